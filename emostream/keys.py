"""Stream names, key templates and tunables: the Redis layout, in one place.

Keys that belong to one video share the hash tag ``{video_id}``, but the design is one Redis
primary, not Redis Cluster: the worker's transaction (XADD result, XACK and XDEL frame) and the
aggregator's store span keys that Cluster would put in different slots. Running on Cluster is
not supported and not tested.
"""

from typing import Final, Literal

FRAMES_STREAM: Final = "emo:frames"
RESULTS_STREAM: Final = "emo:results"
CAMERA_RESULTS_STREAM: Final = "emo:camera_results"  # read only by the camera lease's holder
CAMERA_LEASE_KEY: Final = "emo:cameras:lease"  # the aggregator that folds camera results (aggregator/leader.py)
DEAD_STREAM: Final = "emo:dead"
VIDEOS_INDEX: Final = "emo:videos"  # set of every registered video id
OPEN_VIDEOS: Final = "emo:videos:open"  # registered videos the aggregator has not finished
# Pub/sub: "VIDEO_ID STATUS" each time a video's status is set, so that waiters wake at once. A
# hint only (a subscriber that was away misses it): the registry hash is the truth.
VIDEO_EVENTS: Final = "emo:videos:events"
WORKERS_GROUP: Final = "workers"
AGGREGATORS_GROUP: Final = "aggregators"


def video_key(video_id: str) -> str:
    """Hash: the video's registry entry (source, fps, sampling, frames_expected, status)."""
    return f"emo:video:{{{video_id}}}"


def video_results_key(video_id: str) -> str:
    """Hash frame-index -> result JSON: idempotent, a redelivered result overwrites itself."""
    return f"emo:video:{{{video_id}}}:results"


def video_sent_key(video_id: str) -> str:
    """Bitmap of the frame indices the producer has sent: what a partial video is missing."""
    return f"emo:video:{{{video_id}}}:sent"


def video_finalising_key(video_id: str) -> str:
    """String with TTL: the aggregator writing this video's files now (several may run at once)."""
    return f"emo:video:{{{video_id}}}:finalising"


CAMERAS_INDEX: Final = "emo:cameras"  # set of camera ids: workers read each camera's frames stream


def camera_frames_stream(camera_id: str) -> str:
    """Stream of one live camera's frames: trimmed to its backlog limit (oldest dropped first)."""
    return f"emo:frames:cam:{{{camera_id}}}"


def camera_key(camera_id: str) -> str:
    """Hash: the camera's state, redacted URL and counters (frames sent and dropped, reconnects)."""
    return f"emo:camera:{{{camera_id}}}"


def camera_cuts_key(camera_id: str) -> str:
    """Sorted set: the frame indices at which a camera's shots began (a broadcast cutting), latest
    ``CAMERA_CUTS_KEPT``: the aggregator starts its tracks afresh at each (``producer.shots``)."""
    return f"emo:camera:{{{camera_id}}}:cuts"


def camera_windows_key(camera_id: str, window: str) -> str:
    """List: the camera's latest closed windows of one size, newest first (for ``status --camera``)."""
    return f"emo:camera:{{{camera_id}}}:windows:{window}"


def health_key(role: str, consumer: str) -> str:
    return f"emo:health:{role}:{consumer}"


def auth_failures_key(address: str, minute: int) -> str:
    """Counter: the API's failed tokens from one client address in one minute (``api.throttle``)."""
    return f"emo:api:auth_failures:{address}:{minute}"


# Tunables, with the reason for each default.
DEFAULT_MAX_FPS: Final = 10.0  # emotions change over seconds; 10 fps keeps CPU workers ahead
JPEG_QUALITY: Final = 90  # faces stay sharp; about 30-60 KB for a 640x360 frame
BACKLOG_MAX_FRAMES: Final = 256  # about 16 MB of Redis memory at 60 KB per entry
RAW_BACKLOG_BYTES: Final = 16_000_000  # raw (I420) frames, 0.35 MB at 640x360: fewer pages for Redis to fault in
RAW_BACKLOG_MIN_FRAMES: Final = 48  # but three worker batches, or two workers starve (1.4 MB each at 1280x720)
MAX_RAW_FRAME_BYTES: Final = 1280 * 720 * 3 // 2  # larger frames go as JPEG: the backlog stays under 70 MB
BACKLOG_POLL_MS: Final = 50  # how often a waiting file producer re-checks the backlog
WORKER_BATCH_FRAMES: Final = 16  # one read, one inference call over all faces of 16 frames
# A worker's inference threads at most, as before 2026-12-07 (fewer where it has fewer cores:
# emostream.cpus); more cores are put to work by more workers.
WORKER_MAX_THREADS: Final = 2
WORKER_BLOCK_MS: Final = 1000  # blocking read; also the latency of noticing a stop request
CLAIM_IDLE_MS: Final = 30_000  # far above the slowest normal batch (about 2 s on 2 cores)
MAX_DELIVERIES: Final = 3  # a frame that failed this often is a poison frame
AGGREGATOR_BATCH: Final = 256  # results are small; read many at once
DEAD_STREAM_MAXLEN: Final = 10_000  # bounded: metadata and reasons only by default
RESULTS_STREAM_MAXLEN: Final = 100_000  # entries are deleted once stored; this is a safety cap
# How long a processed frame's JPEG may stay in Redis's append-only file (aggregator/persistence.py).
AOF_SCRUB_S: Final = 60.0
# Above a loop step (block 1 s plus a batch); a dead holder's camera windows pause this long.
CAMERA_LEASE_MS: Final = 10_000
FINALISE_LEASE_S: Final = 120  # far above the time to write a video's files; lapses if its holder dies
# A finished video's results are read back this many frames a round trip, in each pass over them
# (aggregator/stored.py): a crowd of 20 is about 2 MB.
FINALISE_READ_FRAMES: Final = 500
STALL_TIMEOUT_S: Final = 600.0  # a video without progress this long is finalised as partial
HEALTH_TTL_S: Final = 30  # a process that has not reported for this long is unhealthy
MAX_FRAME_SIDE_PX: Final = 1280  # larger frames are downscaled before encoding
MAX_JPEG_BYTES: Final = 1_000_000  # a frame is re-encoded smaller rather than exceed this
DetectorName = Literal["yunet", "haar"]  # face detectors by name: the settings and the CLI's choices
# Haar detects on frames shrunk to this (its cost grows with the pixels; YuNet's follows
# DETECT_MIN_FACE_PX alone unless EMO_WORKER_DETECT_MAX_SIDE_PX caps it too).
HAAR_MAX_SIDE_PX: Final = 640
# YuNet need not find faces smaller than this (source pixels): the classifier names them poorly
# (a 24 px face costs 9 points and a 16 px one 28 on PublicTest; docs/model/results.md), and
# detecting at the scale that keeps them 3x faster on 640 px frames (docs/measurements.md).
DETECT_MIN_FACE_PX: Final = 24
# Frames of a video closer than this to the last detected one get interpolated faces (worker.keyframes):
# every other frame at 25 or 30 fps, none at the default 10 fps sampling or from cameras.
DETECT_INTERVAL_MS: Final = 50
CAMERA_FPS: Final = 5.0  # live sampling default: enough for emotions, light on CPU workers
CAMERA_BACKLOG_FRAMES: Final = 10  # per camera: 2 s at 5 fps; older frames are dropped, not queued
CAMERA_WINDOWS_KEPT: Final = 60  # closed windows per size kept in Redis for status
CAMERA_CUTS_KEPT: Final = 100  # a camera's latest shot cuts kept: the aggregator needs those of its last seconds
CAMERAS_REFRESH_S: Final = 2.0  # how often workers look for new camera streams
# People and smoothing (aggregator). Measured and chosen in docs/people.md.
TRACK_LOST_S: Final = 3.0  # a face missed (hidden, turned away) for up to 3 s keeps its track
TRACK_MIN_FRAMES: Final = 3  # a track seen in fewer sampled frames is a phantom (false or fleeting face)
TRACK_MIN_PRESENCE: Final = 0.3  # a track seen in fewer of the frames it spans is a recurring false box
TRACK_MIN_IOU: Final = 0.3  # box overlap (after the motion model) that continues a track
# Shot cuts (producer): where an edited video cuts to another camera, people's tracks start afresh.
# PySceneDetect's content score (mean HSV change, 0-255) between consecutive frames: its default,
# which on the stage clip's every frame (64 px wide) put its 3 cuts at 47 to 60 and all else under 18 (docs/people.md).
CUT_SCORE: Final = 27.0
CUT_MIN_SHOT_S: Final = 0.5  # a flicker of frames is not two cuts
CUT_SETTLE_S: Final = 0.5  # and a cut is a change that stays: the picture 0.5 s on still differs (a flash does not)
# and a change of the pixels themselves, by this much on average (0-255): cuts moved them by 27 to 73
# in bench/shots.py's clips, noise on black (which swings hue and saturation) by under 1.
CUT_MIN_PICTURE_CHANGE: Final = 10.0
CUT_THUMB_WIDTH_PX: Final = 64  # frames are compared this small: a cut changes the whole picture
# A fade through black is a cut too (PySceneDetect's ThresholdDetector): the picture's mean falls under
# this (0-255, its default) for CUT_FADE_MIN_DARK_FRAMES or more, after a brighter one, and rises again.
CUT_FADE_DARK: Final = 12.0
CUT_FADE_MIN_DARK_FRAMES: Final = 2  # one dark frame is a glitch, not a fade
# A dissolve is a cut too (producer.shots.is_dissolve): looked for over stretches of these lengths
# (without 4 s, dissolves of 3 and 4 s were missed in the tests),
# where the frames between the two ends are mixes of them (what is left unexplained at most this
# share of the ends' change: 0.02 to 0.06 in bench/shots.py's dissolve, 0.74 and more elsewhere),
# and the ends are not one picture lit differently (their correlation under this: a fade's is near 1;
# the dissolve's ends 0.08 to 0.49).
# Not across a frame of nearly one colour (its pixels' standard deviation under CUT_FLAT_STD, 0-255):
# a fade through black or white, whose darkest or palest frames and those about them are mixes too
# (the test videos' own frames: 26 to 56).
CUT_FLAT_STD: Final = 12.0
DISSOLVE_LENGTHS_S: Final = (0.25, 0.5, 1.0, 2.0, 4.0)
DISSOLVE_MAX_UNEXPLAINED: Final = 0.35
DISSOLVE_MAX_CORRELATION: Final = 0.5
SMOOTH_SWITCH_PER_S: Final = 2.0  # HMM: prior rate of emotion changes; higher lags less, lower flickers less
SMOOTH_EVIDENCE_WEIGHT: Final = 0.5  # HMM: consecutive frames of one face are not independent evidence
SMOOTH_EMA_TAU_S: Final = 0.5  # EMA alternative: time constant
UNCERTAIN_BELOW: Final = 0.6  # chosen on PublicTest: named faces 80 % right (model card, "Uncertain")
# HTTP API and retention.
API_AUTH_FAILURES_PER_MINUTE: Final = 10  # a person mistyping a token; a dictionary gets 10 words a minute
API_WEAK_TOKEN_CHARS: Final = 16  # shorter tokens are warned of: a word or a short string can be guessed
API_MAX_UPLOAD_MB: Final = 2048  # one upload; larger bodies are cut off with 413 while streaming
API_UPLOAD_CHUNK_BYTES: Final = 1 << 20  # written to disk as it arrives: memory stays flat
RESULTS_TTL_S: Final = 7 * 24 * 3600  # a finished video's registry and results stay a week in Redis
RETENTION_SWEEP_S: Final = 3600.0  # how often the aggregator looks for outputs past their retention
