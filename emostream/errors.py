"""The exception tree. OpenCV, Redis and runtime errors are translated at the boundary.

EmostreamError
├── ConfigError        bad settings or arguments (invalid --fps, missing model file)
├── SourceError        a video source cannot be opened or read
├── MessageError       a stream entry cannot be decoded
│   └── SchemaVersionError   the entry was written by another schema version
├── ModelError         the emotion model artifact is missing or inconsistent
└── ServiceError       Redis is unreachable, or a process failed
"""


class EmostreamError(Exception):
    """Base of every error emostream raises on purpose."""


class ConfigError(EmostreamError):
    pass


class SourceError(EmostreamError):
    pass


class MessageError(EmostreamError):
    pass


class SchemaVersionError(MessageError):
    pass


class ModelError(EmostreamError):
    pass


class ServiceError(EmostreamError):
    pass
