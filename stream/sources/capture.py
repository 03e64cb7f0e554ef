"""Live capture plumbing: a drop-oldest frame grabber for cameras and video files.

A live source must never fall behind the world: when the pose estimator is slower than
the camera, the frames it could not take are dropped (oldest first) and counted, and
nothing is queued without bound. ``FrameGrabber`` runs the camera (or a video file
standing in for one) in a background thread and keeps only the newest frame in a
one-slot buffer. The sending side (``LiveSender``, which never blocks on the socket) is
in ``skelact.stream.sources.sender``.

OpenCV is imported lazily (only when a capture is opened).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "CaptureError",
    "Frame",
    "LatestSlot",
    "FrameGrabber",
    "open_video",
    "open_camera",
]

log = logging.getLogger(__name__)


class CaptureError(RuntimeError):
    """A camera or video file could not be opened or read."""


@dataclass
class Frame:
    """One captured image.

    ``index``: capture order (0-based: the frame number in a video file, the count of
    frames read from a camera); a gap between consecutive delivered frames = frames
    dropped. ``t``: capture time in seconds (video: ``index / fps``; camera: monotonic
    seconds since the first frame). ``image``: BGR uint8 (H, W, 3) pixels.
    """

    index: int
    t: float
    image: np.ndarray


class LatestSlot:
    """A one-frame buffer between a producer thread and a consumer.

    ``put(x, drop=True)`` replaces an unconsumed item (counted in ``dropped``);
    ``put(x, drop=False)`` waits until the slot is free instead (back-pressure: nothing is
    lost, used to read a file as fast as the consumer can go). ``close()`` ends the stream:
    ``get`` then returns the pending item, if any, and afterwards None.
    """

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._item: Frame | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: Frame, drop: bool = True) -> bool:
        """Offer an item; returns False when the slot was closed (stop producing)."""
        with self._cv:
            if not drop:
                while self._item is not None and not self._closed:
                    self._cv.wait()
            if self._closed:
                return False
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cv.notify_all()
            return True

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest item (waits for one); None at the end or after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while self._item is None and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cv.wait(left)
            item, self._item = self._item, None
            self._cv.notify_all()
            return item

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


Reader = Callable[[], "tuple[bool, np.ndarray | None]"]


class FrameGrabber:
    """Reads frames in a background thread; iterating yields the newest one each time.

    ``read()`` returns ``(ok, bgr_image)`` like ``cv2.VideoCapture.read``; ``ok=False``
    ends the stream. ``clock(index)`` gives the capture time in seconds of the frame just
    read. ``pace_fps``: deliver at most this many frames per second of wall time (a video
    file replayed like a camera); None = as fast as ``read`` returns. ``drop``: True (live)
    keeps only the newest frame and counts the others in ``dropped``; False waits for the
    consumer (every frame delivered, nothing dropped). ``max_frames`` stops after that
    many frames have been read. ``release`` is called when the reader thread ends.
    """

    def __init__(self, read: Reader, clock: Callable[[int], float], *, drop: bool = True,
                 pace_fps: float | None = None, max_frames: int | None = None,
                 release: Callable[[], None] | None = None, name: str = "grabber") -> None:  # fmt: skip
        self._read = read
        self._clock = clock
        self.drop = drop
        self.pace_fps = pace_fps if pace_fps and pace_fps > 0 else None
        self.max_frames = max_frames
        self._release = release
        self._slot = LatestSlot()
        self._stop = threading.Event()
        self.captured = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    @property
    def dropped(self) -> int:
        """Frames read but never delivered (the consumer was busy)."""
        return self._slot.dropped

    def start(self) -> FrameGrabber:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def _run(self) -> None:
        start = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.max_frames is not None and self.captured >= self.max_frames:
                    break
                k = self.captured
                if self.pace_fps:
                    delay = start + k / self.pace_fps - time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        break
                ok, img = self._read()
                if not ok or img is None:
                    break
                frame = Frame(k, float(self._clock(k)), img)
                self.captured += 1
                if not self._slot.put(frame, drop=self.drop):
                    break
        except BaseException as e:  # reported to the consumer, never lost in the thread
            self.error = e
            log.error("capture thread failed: %s", e)
        finally:
            self._slot.close()
            if self._release is not None:
                try:
                    self._release()
                except Exception as e:  # pragma: no cover - release errors are not fatal
                    log.warning("releasing the capture failed: %s", e)

    def get(self, timeout: float | None = None) -> Frame | None:
        """The newest frame (waits); None at the end of the stream or after ``timeout``."""
        self.start()
        return self._slot.get(timeout)

    def __iter__(self) -> Iterator[Frame]:
        self.start()
        while True:
            f = self._slot.get()
            if f is None:
                break
            yield f
        if self.error is not None:
            raise CaptureError(f"capture failed: {self.error}") from self.error

    @property
    def finished(self) -> bool:
        """True once the reader has ended and the last frame was taken."""
        return self._slot.closed and not self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop reading and release the device (waits up to ``timeout`` seconds)."""
        self._stop.set()
        self._slot.close()
        if self._started:
            self._thread.join(timeout)
        elif self._release is not None:  # never started: release the device here
            release, self._release = self._release, None
            release()

    def __enter__(self) -> FrameGrabber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class VideoInfo:
    """What a capture reports: ``fps`` (frames per second, 0 if unknown), ``frames``
    (count, 0 if unknown or live), ``width``/``height`` in pixels."""

    fps: float
    frames: int
    width: int
    height: int


def _info(cap) -> VideoInfo:
    import cv2

    return VideoInfo(float(cap.get(cv2.CAP_PROP_FPS) or 0.0), int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
                     int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))  # fmt: skip


def open_video(path: str | Path, *, pace_fps: float | None = None, realtime: bool = False,
               drop: bool | None = None, max_frames: int | None = None,
               fps: float | None = None) -> tuple[FrameGrabber, VideoInfo]:  # fmt: skip
    """A video file as a frame source. ``t = index / fps`` seconds (``fps`` from the
    container unless given). ``pace_fps``: deliver frames at this rate like a camera;
    ``realtime=True`` without ``pace_fps`` paces at the file's own fps; neither = as fast
    as the consumer takes frames. ``drop`` defaults to True when paced (a slow consumer
    loses the older frames, as with a camera), False when not (nothing is lost)."""
    import cv2

    p = Path(path)
    if not p.is_file():
        raise CaptureError(f"{p}: no such video file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise CaptureError(f"{p}: OpenCV cannot open this video")
    info = _info(cap)
    rate = float(fps or info.fps)
    if not rate or rate <= 0 or not np.isfinite(rate):
        cap.release()
        raise CaptureError(f"{p}: the container reports no frame rate; give one (--video-fps)")
    info = VideoInfo(rate, info.frames, info.width, info.height)
    if pace_fps is None and realtime:
        pace_fps = rate
    grabber = FrameGrabber(cap.read, lambda k: k / rate, drop=bool(pace_fps) if drop is None else drop,
                           pace_fps=pace_fps, max_frames=max_frames, release=cap.release,
                           name=f"video:{p.name}")  # fmt: skip
    return grabber, info


def open_camera(index: int | str, *, fps: float | None = None, width: int | None = None,
                height: int | None = None, max_frames: int | None = None) -> tuple[FrameGrabber, VideoInfo]:  # fmt: skip
    """Camera ``index`` (or any OpenCV source string) as a live frame source.

    Frames are always drop-oldest. ``t`` = ``time.monotonic()`` right after the frame was
    grabbed, in seconds since the first frame (camera drivers' ``CAP_PROP_POS_MSEC`` is
    often 0 or unrelated to capture time). ``fps``/``width``/``height`` are requested
    from the driver (it may ignore them; the returned info says what it reports).
    """
    import cv2

    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        raise CaptureError(f"cannot open camera {index!r} (no such device, or it is busy)")
    if fps:
        cap.set(cv2.CAP_PROP_FPS, float(fps))
    if width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(width))
    if height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(height))
    info = _info(cap)
    reader = _CameraReader(cap)
    grabber = FrameGrabber(reader.read, reader.clock, drop=True, max_frames=max_frames,
                           release=cap.release, name=f"camera:{index}")  # fmt: skip
    return grabber, info


class _CameraReader:
    """grab() then timestamp then retrieve(): the time is taken as close to capture as
    OpenCV allows."""

    def __init__(self, cap) -> None:
        self.cap = cap
        self.t0: float | None = None
        self.t = 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.cap.grab():
            return False, None
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        self.t = now - self.t0
        return self.cap.retrieve()

    def clock(self, _index: int) -> float:
        return self.t
