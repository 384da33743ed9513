"""Write and read MCAP files with ROS 2 message encodings (profile 'ros2', 'ros2msg' + 'cdr').

The writer takes messages already serialised to CDR (rclpy's serialize_message or a raw
subscription), so recording costs no decode; the reader decodes CDR from the schema text with
mcap_ros2, without ROS.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
from dataclasses import dataclass
import io
import os
from pathlib import Path
import threading
from typing import Any, BinaryIO

from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.records import Schema
from mcap.writer import CompressionType, Writer
from mcap_ros2.decoder import DecoderFactory

from uav_flood import __version__
from uav_flood.core.errors import UavFloodError
from uav_flood.recording.schema import message_definition

__all__ = [
    'McapRecordingWriter',
    'RecordedMessage',
    'RecordingError',
    'read_messages',
    'read_metadata',
    'topic_summary',
]


class RecordingError(UavFloodError):
    """An MCAP file that cannot be written, opened or decoded."""


class McapRecordingWriter:
    """An MCAP file being written: one channel per topic, CDR messages, zstd chunks.

    Thread-safe: callbacks of several executor threads may write at once.

    :param path: the .mcap file to create (its directory is created).
    :param chunk_size: bytes per compressed chunk.
    """

    def __init__(self, path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> None:
        """Create the file and write the header (profile 'ros2')."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream: BinaryIO = open(self.path, 'wb')  # noqa: SIM115  (closed in close())
        self._writer = Writer(
            self._stream, chunk_size=chunk_size, compression=CompressionType.ZSTD
        )
        self._writer.start(profile='ros2', library=f'uav_flood {__version__}')
        self._lock = threading.Lock()
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self._sequence: dict[str, int] = {}
        self.message_count = 0
        self.closed = False

    def add_channel(
        self, topic: str, type_name: str, metadata: dict[str, str] | None = None
    ) -> int:
        """Register a topic of a message type ('nav_msgs/msg/OccupancyGrid'); return its id.

        :raises SchemaError: when the type's definition is not installed.
        """
        with self._lock:
            if topic in self._channels:
                return self._channels[topic]
            schema_id = self._schemas.get(type_name)
            if schema_id is None:
                text = message_definition(type_name)
                schema_id = self._writer.register_schema(
                    type_name, 'ros2msg', text.encode('utf-8')
                )
                self._schemas[type_name] = schema_id
            channel_id = self._writer.register_channel(
                topic, 'cdr', schema_id, metadata=dict(metadata or {})
            )
            self._channels[topic] = channel_id
            self._sequence[topic] = 0
            return channel_id

    def topic_count(self, topic: str) -> int:
        """Return how many messages of `topic` were written (0 for an unknown topic)."""
        return self._sequence.get(topic, 0)

    def has_channel(self, topic: str) -> bool:
        """Return whether `topic` has a channel."""
        return topic in self._channels

    def write(self, topic: str, data: bytes, log_time_ns: int, publish_time_ns: int) -> None:
        """Append one CDR-serialised message of a registered topic.

        :param log_time_ns: when it was received (ns since the Unix epoch).
        :param publish_time_ns: when it was published, or its header stamp (ns since the epoch).
        """
        with self._lock:
            if self.closed:
                return
            self._sequence[topic] += 1
            self._writer.add_message(
                self._channels[topic],
                log_time=log_time_ns,
                data=data,
                publish_time=publish_time_ns,
                sequence=self._sequence[topic],
            )
            self.message_count += 1

    def add_metadata(self, name: str, data: dict[str, str]) -> None:
        """Write a metadata record (string keys and values)."""
        with self._lock:
            if not self.closed:
                self._writer.add_metadata(name, dict(data))

    def close(self) -> None:
        """Write the summary and footer and close the file (idempotent)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            try:
                self._writer.finish()  # type: ignore[no-untyped-call]
            finally:
                self._stream.close()


@dataclass(frozen=True)
class RecordedMessage:
    """One decoded message of a recording.

    :param topic: the topic name.
    :param type_name: the schema name ('nav_msgs/msg/OccupancyGrid').
    :param message: the decoded message (attributes named like the ROS fields).
    :param log_time_ns: when the recorder received it (ns since the Unix epoch).
    """

    topic: str
    type_name: str
    message: Any
    log_time_ns: int


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    source = Path(path)
    if not source.is_file():
        raise RecordingError(f'{source}: no such file')
    try:
        stream = open(source, 'rb')  # noqa: SIM115  (the callers close it)
    except OSError as exc:
        raise RecordingError(f'{source}: cannot read it ({exc.strerror or exc})') from None
    if os.fstat(stream.fileno()).st_size == 0:
        stream.close()
        raise RecordingError(f'{source}: not a readable MCAP recording (the file is empty)')
    return stream


class _QuietDecoderFactory(DecoderFactory):
    """mcap_ros2's CDR decoders, built without the ROS message parser's own stderr lines.

    On a schema text that is not a message definition, the vendored rosidl parser prints the
    line it failed on before it raises; the exception is enough (it becomes RecordingError).
    """

    def decoder_for(self, message_encoding: str, schema: Schema | None) -> Any:
        """Return the decoder of a schema, as DecoderFactory does, with stderr held back."""
        with contextlib.redirect_stderr(io.StringIO()):
            return super().decoder_for(message_encoding, schema)


def _unreadable(path: str | os.PathLike[str], exc: Exception) -> RecordingError:
    """Return the error for a file that the MCAP reader or the CDR decoder choked on.

    A corrupt file fails in whichever library reads the bytes that are wrong (mcap, zstd, lz4,
    struct, the ROS message parser), each with its own exception; a length field that went bad
    makes the reader ask for more memory than there is.
    """
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ''
    if isinstance(exc, MemoryError):
        text = 'a record claims more bytes than memory holds'
    elif not text or not isinstance(exc, McapError):
        text = f'{type(exc).__name__}: {text}' if text else type(exc).__name__
    text = text if len(text) <= 120 else text[:117] + '...'
    return RecordingError(f'{path}: not a readable MCAP recording ({text})')


def read_messages(
    path: str | os.PathLike[str], topics: Iterable[str] | None = None
) -> Iterator[RecordedMessage]:
    """Yield the decoded messages of an MCAP file in log-time order.

    :param topics: only these topics (all when None).
    :raises RecordingError: when the file is missing, not MCAP, truncated or undecodable.
    """
    with _open(path) as stream:
        try:
            # Chunk CRCs are checked: a flipped bit in a message must not change the map quietly.
            reader = make_reader(
                stream, validate_crcs=True, decoder_factories=[_QuietDecoderFactory()]
            )
            for schema, channel, message, decoded in reader.iter_decoded_messages(
                topics=list(topics) if topics is not None else None, log_time_order=True
            ):
                yield RecordedMessage(
                    channel.topic, schema.name if schema else '', decoded, message.log_time
                )
        # Any failure of the reader and decoders is a corrupt file (see _unreadable); what the
        # code consuming the messages raises is not raised in here.
        except Exception as exc:  # noqa: BLE001
            raise _unreadable(path, exc) from exc


def read_metadata(path: str | os.PathLike[str]) -> dict[str, dict[str, str]]:
    """Return the metadata records of an MCAP file by name (the last of each name wins).

    :raises RecordingError: when the file is missing or not MCAP.
    """
    with _open(path) as stream:
        try:
            reader = make_reader(stream)
            return {record.name: dict(record.metadata) for record in reader.iter_metadata()}
        except Exception as exc:  # noqa: BLE001  (see read_messages)
            raise _unreadable(path, exc) from exc


def topic_summary(path: str | os.PathLike[str]) -> dict[str, tuple[str, int]]:
    """Return {topic: (type name, message count)} from the file's summary section.

    :raises RecordingError: when the file is missing, not MCAP or has no summary.
    """
    with _open(path) as stream:
        try:
            summary = make_reader(stream).get_summary()
        except Exception as exc:  # noqa: BLE001  (see read_messages)
            raise _unreadable(path, exc) from exc
    if summary is None or summary.statistics is None:
        raise RecordingError(f'{path}: no summary (was the recording closed?)')
    counts = summary.statistics.channel_message_counts
    result = {}
    for channel_id, channel in summary.channels.items():
        schema = summary.schemas.get(channel.schema_id)
        result[channel.topic] = (schema.name if schema else '', counts.get(channel_id, 0))
    return result
