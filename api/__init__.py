"""The HTTP API service: uploads in, progress and results out, behind bearer tokens.

It talks to Redis and the output folder only, and never runs inference: an upload is streamed
to disk and sent through the producer's own path (``producer.FileProducer``); results are the
aggregator's files. Rendering, when asked for, is the ``emostream render`` command, run as its
own process once the video is finished.
"""
