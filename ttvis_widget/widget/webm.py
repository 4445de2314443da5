"""A minimal WebM (Matroska/EBML) reader: enough to check that bytes a browser recorded are a WebM, count its
video frames and measure its duration from the container's own timestamps, without a media library.

Chrome's MediaRecorder writes live WebM: an EBML header (DocType "webm"), then a Segment of unknown size holding
Info (TimecodeScale), Tracks and Clusters (each a Timecode + SimpleBlocks with 16-bit relative timecodes) and
no Duration element, so the duration is taken from the last block's timestamp plus one frame interval.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

EBML = 0x1A45DFA3
DOCTYPE = 0x4282
SEGMENT = 0x18538067
INFO = 0x1549A966
TIMECODE_SCALE = 0x2AD7B1
DURATION = 0x4489
TRACKS = 0x1654AE6B
CLUSTER = 0x1F43B675
TIMECODE = 0xE7
SIMPLEBLOCK = 0xA3
BLOCKGROUP = 0xA0
BLOCK = 0xA1
CONTAINERS = {SEGMENT, CLUSTER, BLOCKGROUP}
UNKNOWN = -1


class WebMError(ValueError):
    """The bytes are not a WebM this reader can follow (says where and why)."""


@dataclass
class WebMInfo:
    doctype: str
    timecode_scale_ns: int
    frames: int
    first_ms: float | None
    last_ms: float | None
    declared_duration_ms: float | None
    block_times_ms: list = field(default_factory=list, repr=False)

    def duration_s(self, fps: float | None = None) -> float:
        """Seconds the video lasts: from the first block to the end of the last one (its length is 1/fps when
        given, else the median gap between blocks), or the declared Duration when that is longer (a muxer may
        declare only the last block's timestamp)."""
        declared = (self.declared_duration_ms or 0.0) / 1000
        if self.first_ms is None:
            return declared
        t = sorted(self.block_times_ms)
        if fps:
            step = 1000 / fps
        elif len(t) > 1:
            gaps = sorted(b - a for a, b in zip(t, t[1:]))
            step = gaps[len(gaps) // 2]
        else:
            step = 0.0
        return max(declared, (t[-1] - t[0] + step) / 1000)


def _vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length). Element IDs keep their marker bit; a size
    whose bits are all ones is UNKNOWN (a live recording's Segment and Clusters)."""
    if pos >= len(buf) or buf[pos] == 0:
        raise WebMError(f"invalid or truncated variable-length integer at byte {pos}")
    length = 9 - buf[pos].bit_length()
    if pos + length > len(buf):
        raise WebMError(f"truncated variable-length integer at byte {pos}")
    value = int.from_bytes(buf[pos:pos + length], "big")
    if keep_marker:
        return value, length
    mask = (1 << (7 * length)) - 1
    value &= mask
    return (UNKNOWN if value == mask else value), length


def _uint(data: bytes) -> int:
    return int.from_bytes(data, "big") if data else 0


def read_webm(data: bytes) -> WebMInfo:
    """Parse ``data``; raise WebMError unless it is a WebM with at least the EBML header and a Segment."""
    buf = bytes(data)
    if len(buf) < 4 or _uint(buf[:4]) != EBML:
        raise WebMError("does not start with the EBML magic number 1A 45 DF A3")
    eid, n = _vint(buf, 0, True)
    size, m = _vint(buf, n, False)
    if size == UNKNOWN:
        raise WebMError("the EBML header has no size")
    head_end = n + m + size
    doctype = ""
    pos = n + m
    while pos < head_end:
        cid, a = _vint(buf, pos, True)
        csz, b = _vint(buf, pos + a, False)
        if cid == DOCTYPE:
            doctype = buf[pos + a + b:pos + a + b + csz].decode("ascii", "replace").rstrip("\0")
        pos += a + b + csz
    if doctype != "webm":
        raise WebMError(f"DocType is {doctype!r}, not 'webm'")
    scale, declared, cluster_tc = 1_000_000, None, 0
    times: list[float] = []
    seen_segment = False
    pos = head_end
    stack_end = [len(buf)]
    while pos < len(buf):
        while pos >= stack_end[-1] and len(stack_end) > 1:
            stack_end.pop()
        eid, a = _vint(buf, pos, True)
        if pos + a >= len(buf):
            break  # a recording cut inside an element header: keep what was read
        size, b = _vint(buf, pos + a, False)
        body = pos + a + b
        if eid in CONTAINERS:
            seen_segment = seen_segment or eid == SEGMENT
            if eid == CLUSTER:
                cluster_tc = 0
            if size != UNKNOWN:
                stack_end.append(min(body + size, len(buf)))
            pos = body
            continue
        if size == UNKNOWN:
            raise WebMError(f"element {eid:X} at byte {pos} has an unknown size")
        end = min(body + size, len(buf))
        if eid == INFO:  # read TimecodeScale / Duration inside
            p = body
            while p < end:
                cid, c = _vint(buf, p, True)
                csz, d = _vint(buf, p + c, False)
                v = buf[p + c + d:p + c + d + csz]
                if cid == TIMECODE_SCALE:
                    scale = _uint(v)
                elif cid == DURATION and csz in (4, 8):
                    declared = struct.unpack(">f" if csz == 4 else ">d", v)[0]
                p += c + d + csz
        elif eid == TIMECODE:
            cluster_tc = _uint(buf[body:end])
        elif eid in (SIMPLEBLOCK, BLOCK) and end - body >= 4:
            _, t = _vint(buf, body, False)  # track number
            rel = int.from_bytes(buf[body + t:body + t + 2], "big", signed=True)
            times.append((cluster_tc + rel) * scale / 1e6)
        pos = end
    if not seen_segment:
        raise WebMError("no Segment element after the EBML header")
    return WebMInfo(doctype=doctype, timecode_scale_ns=int(scale), frames=len(times),
                    first_ms=min(times) if times else None, last_ms=max(times) if times else None,
                    declared_duration_ms=None if declared is None else declared * scale / 1e6,
                    block_times_ms=times)
