"""A real RTSP server for tests: GStreamer's RTSP server looping a folder of JPEG frames as H.264,
or sending an H.264 MP4 file's video as it is coded (once, in real time).

Run with Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0, GStreamer
plugins base/good/bad), not the project's venv:

    /usr/bin/python3 testkit/rtsp_serve.py --port P (--frames DIR [--fps 15] | --file VIDEO.mp4) [--mount /cam]

Frames are DIR/frame-00000.jpg, ...; every client shares one encoder (or one file). Prints
"ready" once the server is attached, then serves until killed.
"""

import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--frames", help="folder of frame-%%05d.jpg")
    source.add_argument("--file", help="an MP4 whose H.264 video is sent as it is coded (fields too)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--mount", default="/cam")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(_pipeline(args))
    factory.set_shared(True)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{args.port}")
    print("ready", flush=True)
    GLib.MainLoop().run()


def _pipeline(args: argparse.Namespace) -> str:
    payload = "h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"
    if args.file:
        return f"( filesrc location={args.file} ! qtdemux ! {payload} )"
    return (
        f"( multifilesrc location={args.frames}/frame-%05d.jpg index=0 loop=true "
        f"caps=image/jpeg,framerate={args.fps}/1 ! jpegdec ! videoconvert ! videorate "
        f"! video/x-raw,format=I420,framerate={args.fps}/1 ! openh264enc gop-size={args.fps} ! {payload} )"
    )


if __name__ == "__main__":
    main()
