"""`skelact detect`: run a model over recorded files or a video (streaming core, or --offline).

A video goes through MediaPipe Pose first, every frame in order with nothing dropped,
and reaches the detection core as the very messages `skelact publish --video FILE
--fast` sends (P = 0 frames where nobody is detected), so its events equal those of
`skelact serve --max-age-ms 0` fed by that command (all fields but the wall-clock ones
and ``event_id``). Recorded files go through ``skelact.stream.offline.detect_sequence``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SUMMARY = ("detect actions in recorded files or a video: the runtime's streaming core, or --offline "
           "(the FLR paper's whole-sequence inference)")

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
PREVIEW_SUFFIXES = (".mp4", ".avi")

log = logging.getLogger(__name__)


def is_video(path: str) -> bool:
    """Whether ``detect`` treats ``path`` as a video (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def suffix_type(*suffixes: str):
    """An argparse ``type``: a path ending in one of ``suffixes`` (checked at parse time)."""

    def parse(text: str) -> str:
        if Path(text).suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"expected a {' or '.join(suffixes)} file, got {text!r}")
        return text

    parse.__name__ = "path"
    return parse


def build_parser() -> argparse.ArgumentParser:
    from skelact.stream.assets import model_help

    from .cli import ArgumentParser, number, stream_id
    from .common import add_detector_args

    p = ArgumentParser(
        prog="skelact detect",
        description=(
            "Run a model over a recorded file, a dataset or a video. By default this is the streaming core "
            "of `skelact serve` (same events as replaying the file into a runtime, causal, frame by frame). "
            "A video (.mp4, .avi, ...) goes through MediaPipe Pose first, like `skelact publish --video "
            "FILE --fast`. --offline is the whole-sequence inference of the FLR paper (Yu & Fujiwara, AAAI "
            "2023, Frame-Level Label Refinement for Skeleton-Based Weakly-Supervised Action Recognition; "
            "non-causal, for evaluation): "
            "the window graph over the whole sequence, classes with video score < 0.1 rejected, "
            "multi-threshold proposals and NMS. Output by extension: .jsonl = event bodies, "
            ".csv = segments (sequence,class_id,start_frame,end_frame,score); frames are source frames."
        ),
    )
    p.add_argument("input", help="video file, or a file or dataset folder (any format `skelact data info` reads), "
                                 "optionally :SEQ")  # fmt: skip
    p.add_argument("--model", default=None,
                   help=f"{model_help()} (default: default; a name means its step graph, or window with --offline)")
    p.add_argument("-o", "--out", required=True, help="events .jsonl or segments .csv")
    p.add_argument("--split", default=None, help="only this split of a dataset (e.g. test)")
    p.add_argument("--offline", action="store_true", help="whole-sequence, non-causal inference (window graph)")
    p.add_argument("--scores-out", default=None, type=suffix_type(".npz"), metavar="FILE.npz",
                   help="also write per-source-frame scores (.npz; docs/detect.md) for `skelact eval --scores` "
                        "and `skelact plot --scores`")  # fmt: skip
    p.add_argument("--plot", default=None, type=suffix_type(*PLOT_SUFFIXES), metavar="FILE.png",
                   help="also draw the timeline (scores, thresholds, events, ground truth); several sequences "
                        "give one file each, FILE-<sequence>.png; needs matplotlib (the plot extra)")  # fmt: skip
    p.add_argument("--preview-out", default=None, type=suffix_type(*PREVIEW_SUFFIXES), metavar="FILE.mp4",
                   help="also write the input with the skeleton, scores and detections drawn (one sequence)")
    p.add_argument("--progress", type=number(float, ge=0), default=0.5, metavar="S",
                   help="progress bar on stderr updated at most every S seconds (0 = none; default 0.5; "
                        "never when stderr is not a terminal)")  # fmt: skip
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda", "tensorrt"])
    v = p.add_argument_group("video input (MediaPipe Pose, as `skelact publish --video`)")
    v.add_argument("--max-frames", type=number(int, ge=1), default=None, metavar="N",
                   help="only the first N frames of the video")
    v.add_argument("--stream", type=stream_id, default=None, help="stream id of the events (default: the file name)")
    v.add_argument("--model-complexity", type=int, choices=(0, 1, 2), default=None,
                   help="MediaPipe Pose model (default 1, the only one bundled with mediapipe 0.10.21)")
    v.add_argument("--min-detection-confidence", type=number(float, ge=0, le=1), default=None,
                   help="default 0.5")
    v.add_argument("--min-tracking-confidence", type=number(float, ge=0, le=1), default=None,
                   help="default 0.5")
    v.add_argument("--no-smooth", action="store_true", help="turn MediaPipe's landmark smoothing off")
    v.add_argument("--fuse", metavar="VIEWS", default=None,
                   help="SST-A fusion of MediaPipe on several views of each frame ('mirror' or orig,mirror,pad)")
    v.add_argument("--gamma", type=number(float, ge=0, le=1), default=None,
                   help="SST-A confidence threshold (default 0.18)")
    add_detector_args(p)
    return p


_VIDEO_ONLY = ("max_frames", "stream", "model_complexity", "min_detection_confidence", "min_tracking_confidence",
               "fuse", "gamma")  # fmt: skip


# ----------------------------------------------------------------------------- inputs


def _sequences(args):
    from skelact.stream.formats import load_dataset, load_sequence

    if not Path(args.input).exists() and ":" in args.input:
        return [load_sequence(args.input)]
    ds = load_dataset(args.input)
    if args.split:
        ds = ds.split(args.split)
    return list(ds)


def _stream_id(text: str) -> str:
    """A protocol stream id from a file name (the rule `skelact publish --video` uses)."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", text)[:64] or "stream"


def _progress(items, args, total: int | None = None, desc: str = "", unit: str = "it"):
    """``items`` wrapped in a tqdm bar on stderr (none with --progress 0 or off a terminal)."""
    if not args.progress:
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # a runtime-only install without tqdm: no bar
        return items
    return tqdm(items, total=total, desc=desc, unit=unit, file=sys.stderr, mininterval=args.progress,
                disable=None, leave=False, dynamic_ncols=True)  # fmt: skip  (disable=None: off unless a TTY)


@dataclass
class VideoPoses:
    """MediaPipe Pose over a video: per frame ``joints`` (P, 33, 4) world metres +
    visibility and ``image`` (P, 33, 4) normalised image landmarks, P = 1 or 0 (nobody
    detected); ``t`` frame time in seconds (``index / fps``); ``ms`` MediaPipe wall time."""

    path: str
    stream: str
    fps: float
    width: int
    height: int
    t: list[float] = field(default_factory=list)
    joints: list[np.ndarray] = field(default_factory=list)
    image: list[np.ndarray] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def messages(self):
        """(t, multipart) pose frames exactly as `skelact publish --video --fast` sends them, then an eos."""
        from skelact.stream import protocol as P
        from skelact.stream.sources.mediapipe_source import LAYOUT

        for i, (t, j) in enumerate(zip(self.t, self.joints)):
            yield t, P.encode_pose(self.stream, i, t, LAYOUT, j, tracks=[0] if len(j) else [])
        yield (self.t[-1] if self.t else 0.0), P.encode_eos(self.stream)

    def sequence(self):
        """The poses as a ``Sequence`` (T, 1, 33, 4), NaN where nobody was detected (--offline)."""
        from skelact.stream.sequence import Sequence
        from skelact.stream.sources.mediapipe_source import LAYOUT

        joints = np.full((len(self.t), 1, 33, 4), np.nan, np.float32)
        for i, j in enumerate(self.joints):
            if len(j):
                joints[i] = j[:1]
        return Sequence(self.stream, joints, LAYOUT, self.fps, np.asarray(self.t, np.float64),
                        meta={"source": f"video:{self.path}"})  # fmt: skip


def _open_video(args):
    """Cheap checks and the opened video (nothing is estimated yet)."""
    from skelact.stream.sources.capture import open_video
    from skelact.stream.sources.mediapipe_source import check_model_available, parse_views

    check_model_available(args.model_complexity if args.model_complexity is not None else 1)
    if args.fuse:
        parse_views(args.fuse)
    return open_video(args.input, max_frames=args.max_frames)  # every frame, in order, nothing dropped


def _estimate(args, grabber, info) -> VideoPoses:
    from skelact.stream.sources.mediapipe_source import PoseEstimator, PoseOptions, parse_views

    opts = PoseOptions(
        model_complexity=1 if args.model_complexity is None else args.model_complexity,
        min_detection_confidence=0.5 if args.min_detection_confidence is None else args.min_detection_confidence,
        min_tracking_confidence=0.5 if args.min_tracking_confidence is None else args.min_tracking_confidence,
        smooth_landmarks=not args.no_smooth,
    )
    views = parse_views(args.fuse) if args.fuse else ("orig",)
    poses = VideoPoses(args.input, args.stream or _stream_id(Path(args.input).stem), info.fps, info.width, info.height)
    total = min(info.frames or args.max_frames or 0, args.max_frames or 1 << 62) or None
    with grabber, PoseEstimator(opts, views=views, **({} if args.gamma is None else {"gamma": args.gamma})) as est:
        for frame in _progress(grabber, args, total=total, desc="MediaPipe", unit="frame"):
            lp = est.process(frame.image)
            poses.t.append(float(frame.t))
            poses.joints.append(lp.joints)
            poses.image.append(lp.image)
            poses.ms.append(lp.ms)
    return poses


# ----------------------------------------------------------------------------- detection


@dataclass
class Result:
    """One sequence's detections in source frames: ``scores`` (T, K) per source frame
    (smoothed scores, or --offline the window graph's probabilities), ``segments``
    (class_id, start, end, score) inclusive, ``events`` the event bodies (streaming),
    ``gt`` (class_id, start, end) when the sequence has frame or interval labels."""

    id: str
    t: np.ndarray
    fps: float
    scores: np.ndarray
    segments: list[tuple[int, int, int, float]]
    events: list[dict] = field(default_factory=list)
    gt: list[tuple[int, int, int]] = field(default_factory=list)


def _streaming_result(engine, sid: str, row_t: np.ndarray, fps: float, bodies: list[dict]) -> Result:
    from skelact.stream.timeline import scores_by_row

    m = engine.meta
    events = [b for b in bodies if b["type"] in ("start", "end")]
    starts = {e["event_id"]: e for e in events if e["type"] == "start"}
    segs = [(e["class_id"], starts[e["event_id"]]["seq"], e["seq"], e["peak_score"])
            for e in events if e["type"] == "end" and e["event_id"] in starts]  # fmt: skip
    return Result(sid, np.asarray(row_t, np.float64), fps, scores_by_row(bodies, row_t, m.fps, m.num_classes),
                  segs, events)  # fmt: skip


def nearest_model_frame(grid_t: np.ndarray, row_t: np.ndarray) -> np.ndarray:
    """(T_rows,) index of the model frame nearest each source row in time (ties: the earlier)."""
    k = np.clip(np.searchsorted(grid_t, row_t), 0, len(grid_t) - 1)
    prev = np.clip(k - 1, 0, len(grid_t) - 1)
    return np.where(np.abs(grid_t[prev] - row_t) <= np.abs(grid_t[k] - row_t), prev, k)


def source_span(nearest: np.ndarray, src: np.ndarray, s: int, e: int) -> tuple[int, int]:
    """Inclusive source rows of the model frames ``s..e``.

    A model frame stands for the source rows nearest to it in time (``nearest`` =
    ``nearest_model_frame``, the rows ``--scores-out`` gives its scores). So the span runs
    from the first row whose model frame is ``>= s`` to the last whose model frame is
    ``<= e``: a 10-fps model over 30-fps data covers rows ``3s-1 .. 3e+1``. ``src`` (the
    row each model frame was taken from; the resampler takes grid point k from row 3k-1,
    which arrives within half a grid step of it) would end at ``3e-1``, two source frames
    short. ``src`` still bounds the span when no row has its own model frame there (a
    model faster than the source).
    """
    lo = int(np.searchsorted(nearest, s, side="left"))
    hi = int(np.searchsorted(nearest, e, side="right")) - 1
    return min(lo, int(src[s])), max(hi, int(src[e]))


def _offline(engine, seq):
    """(segments [(class_id, start_row, end_row, score)], per-row scores (T, K))."""
    from skelact.models.proposals import ProposalConfig, propose
    from skelact.stream.prepare import prepare_sequence

    m = engine.meta
    prep = prepare_sequence(seq, m.norm, m.fps)
    probs = engine.run_window(prep.x[None])[0][:, m.action_indices]  # (T, K)
    k = max(1, len(probs) // 8)
    video = np.sort(probs, axis=0)[-k:].mean(0)  # top-k mean, as in MIL-based WTAL
    segs = propose(probs, video, ProposalConfig())
    near = nearest_model_frame(prep.t, seq.t)
    out = [(m.classes[c][0], *source_span(near, prep.src, s, e), float(sc)) for c, s, e, sc in segs]
    return out, probs[near]


def _ground_truth(seq) -> list[tuple[int, int, int]]:
    lab = seq.labels
    if lab.kind not in ("frame", "interval"):
        return []
    return [(int(iv.class_id), int(iv.start), int(iv.end)) for iv in lab.intervals]


def _detect(engine, seq, dcfg, offline: bool) -> Result:
    from skelact.stream.offline import detect_sequence

    if offline:
        segs, fs = _offline(engine, seq)
        res = Result(seq.id, seq.t, seq.fps, fs.astype(np.float32), segs)
    else:
        res = _streaming_result(engine, seq.id, seq.t, seq.fps, detect_sequence(engine, seq, dcfg))
    res.gt = _ground_truth(seq)
    return res


# ----------------------------------------------------------------------------- outputs


def _write_events(path: str, results: list[Result]) -> None:
    if path.endswith(".jsonl"):
        with open(path, "w", encoding="utf-8") as f:
            for r in results:
                for e in r.events:
                    f.write(json.dumps(e, allow_nan=False) + "\n")
    else:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["sequence", "class_id", "start_frame", "end_frame", "score"])
            w.writerows([r.id, c, s, e, sc] for r in results for c, s, e, sc in r.segments)


def _plot_paths(base: str, results: list[Result]) -> list[Path]:
    p = Path(base)
    if len(results) == 1:
        return [p]
    return [p.with_name(f"{p.stem}-{_stream_id(r.id)}{p.suffix}") for r in results]


def _plot(args, engine, events_cfg, res: Result, path: Path) -> None:
    from skelact.stream.timeline import Timeline, plot_timeline

    m = engine.meta
    on = off = None
    if not args.offline:  # the thresholds the run used: the model's per-class ones unless --on/--off
        ev = events_cfg
        on = dict(zip((int(c) for c, _ in m.classes), ev.ons(m.num_classes).tolist()))
        off = dict(zip((int(c) for c, _ in m.classes), ev.offs(m.num_classes).tolist()))
    tl = Timeline(
        res.id, classes=[(int(c), str(n)) for c, n in m.classes], scores=res.scores, segments=res.segments,
        gt=res.gt, on=on, off=off, fps=res.fps,
        num_frames=len(res.t),
        score_label="class probability (window graph)" if args.offline else "smoothed score",
        title=f"{res.id}: {m.name} ({'offline' if args.offline else m.mode + ' mode'}, {m.fps:g} fps)",
    )  # fmt: skip
    plot_timeline(tl, path)


def _preview(args, engine, res: Result, poses: VideoPoses | None, seq) -> int:
    """Write the annotated input to --preview-out; returns the frames written."""
    from skelact.stream.preview import Preview, TimelineFeed, render_frame

    m = engine.meta
    col = {int(c): k for k, (c, _) in enumerate(m.classes)}
    feed = TimelineFeed([str(n) for _, n in m.classes], res.scores,
                        [(col.get(int(c), -1), s, e) for c, s, e, _ in res.segments], res.t)  # fmt: skip
    T = len(res.t)
    with Preview(out_path=args.preview_out, fps=res.fps) as pv:
        if poses is not None:
            from skelact.stream.sources.capture import open_video
            from skelact.stream.sources.mediapipe_source import LAYOUT

            grabber, _ = open_video(poses.path, max_frames=T)
            with grabber:
                for f in _progress(grabber, args, total=T, desc="preview", unit="frame"):
                    i = f.index
                    if i >= T:
                        break
                    pv.show(render_frame(f.image, LAYOUT, landmarks=poses.image[i], overlay=feed.at(i),
                                         info=f"{res.id} frame {i} t {res.t[i]:.2f}s"))  # fmt: skip
        else:
            for i in _progress(range(T), args, total=T, desc="preview", unit="frame"):
                pv.show(render_frame(None, seq.layout, joints=seq.joints[i], overlay=feed.at(i),
                                     info=f"{res.id} frame {i} t {res.t[i]:.2f}s"))  # fmt: skip
        return pv.frames


# ----------------------------------------------------------------------------- main


def _fail(text: str) -> int:
    print(f"skelact detect: {text}", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from skelact.stream.assets import resolve_model
    from skelact.stream.engine import Engine
    from skelact.stream.formats import DataError
    from skelact.stream.metadata import ModelError

    from .common import detector_config

    # Everything about the outputs is checked before the (long) inference, not after it.
    if not args.out.endswith((".jsonl", ".csv")):
        return _fail("-o must end in .jsonl (events) or .csv (segments)")
    if args.offline and args.out.endswith(".jsonl"):
        return _fail("--offline writes segments, not events: use a .csv output")
    for path in (args.out, args.scores_out, args.plot, args.preview_out):
        if path and not Path(path).resolve().parent.is_dir():
            return _fail(f"cannot write {path}: no folder {Path(path).resolve().parent}")
    video = is_video(args.input)
    if not video:
        given = [f"--{k.replace('_', '-')}" for k in _VIDEO_ONLY if getattr(args, k) is not None]
        given += ["--no-smooth"] if args.no_smooth else []
        if given:
            return _fail(f"{', '.join(given)} apply to a video input only ({args.input} is not a video: "
                         f"{', '.join(VIDEO_SUFFIXES)})")  # fmt: skip
    if args.plot:
        from skelact.stream.timeline import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as e:
            return _fail(f"--plot: {e}")
    if args.preview_out or video:
        try:
            import cv2  # noqa: F401
        except ImportError:
            what = "a video input" if video else "--preview-out"
            return _fail(f"{what} needs OpenCV, which is not installed: pip install 'skelact[webcam]'")
    seqs: list = []
    grabber = info = None
    try:  # the data first: a wrong path or an empty split is found before the model loads
        dcfg = detector_config(args, scores=True)
        if video:
            from skelact.stream.sources.capture import CaptureError
            from skelact.stream.sources.mediapipe_source import ModelUnavailableError

            try:
                grabber, info = _open_video(args)
            except (CaptureError, ModelUnavailableError) as e:
                raise DataError(str(e)) from None
        else:
            seqs = _sequences(args)
            if not seqs:
                where = f"split {args.split!r} of {args.input}" if args.split else args.input
                raise DataError(f"no sequences in {where}: nothing to detect")
            if args.preview_out and len(seqs) > 1:
                raise DataError(f"--preview-out draws one sequence and {args.input} has {len(seqs)}: "
                                f"pick one with {args.input}:SEQ (e.g. {seqs[0].id})")  # fmt: skip
        model = resolve_model(args.model, "window" if args.offline else "step")
        logging.getLogger("skelact.stream.engine").setLevel(logging.WARNING)  # said below, on stdout
        engine = Engine(model, provider=args.provider)
        if args.offline and engine.meta.mode != "window":
            raise ModelError(f"{model}: --offline needs a window-mode model (this one is {engine.meta.mode})")
        from skelact.stream.detector import DetectorCore

        events_cfg = DetectorCore(engine, dcfg).events_cfg  # --on/--off against the model's own: checked now
    except (DataError, ModelError, KeyError, ValueError) as e:
        if grabber is not None:
            grabber.stop()
        return _fail(f"{e.args[0] if isinstance(e, KeyError) and e.args else e}")
    m = engine.meta
    print(f"model {m.name}: {m.mode} mode, {m.num_classes} classes, {m.fps:g} fps, "
          f"{Path(str(model)).name} on {','.join(engine.providers)}", flush=True)  # fmt: skip
    start = time.monotonic()
    results: list[Result] = []
    poses = None
    if video:
        try:
            poses = _estimate(args, grabber, info)
        except (RuntimeError, ValueError) as e:
            return _fail(str(e))
        if not poses.t:
            return _fail(f"{args.input}: no frames could be read from this video")
        seq = poses.sequence()
        seqs = [seq]
        if args.offline:
            res = _detect(engine, seq, dcfg, offline=True)
        else:
            from skelact.stream.offline import detect_messages

            res = _streaming_result(engine, poses.stream, seq.t, poses.fps,
                                    detect_messages(engine, poses.messages(), dcfg))  # fmt: skip
        results.append(res)
        ms = poses.ms[1:] or poses.ms
        detected = sum(len(j) > 0 for j in poses.joints)
        print(f"video {args.input}: {len(poses.t)} frames ({info.width}x{info.height}, {info.fps:g} fps), "
              f"a person in {detected}; MediaPipe {np.median(ms):.1f} ms/frame", flush=True)  # fmt: skip
    else:
        for seq in _progress(seqs, args, total=len(seqs), desc="detect", unit="seq"):
            results.append(_detect(engine, seq, dcfg, args.offline))
    _write_events(args.out, results)
    n = sum(len(r.segments) for r in results)
    print(f"{len(results)} sequences, {n} detections in {time.monotonic() - start:.1f} s -> {args.out}", flush=True)
    if args.scores_out:
        np.savez_compressed(args.scores_out, class_ids=np.array([c for c, _ in engine.meta.classes], np.int64),
                            **{r.id: r.scores for r in results})  # fmt: skip
        print(f"scores -> {args.scores_out}", flush=True)
    if args.plot:
        paths = _plot_paths(args.plot, results)
        for r, path in zip(_progress(results, args, total=len(results), desc="plot", unit="seq"), paths):
            _plot(args, engine, events_cfg, r, path)
        print(f"plot -> {paths[0]}" + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else ""), flush=True)
    if args.preview_out:
        from skelact.stream.preview import PreviewError

        try:
            frames = _preview(args, engine, results[0], poses, seqs[0])
        except PreviewError as e:
            return _fail(str(e))
        print(f"preview -> {args.preview_out} ({frames} frames)", flush=True)
    return 0
