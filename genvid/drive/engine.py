"""The sessions of the driving page, without HTTP: a test clip's context, then one Predictor call per
press under the action the user chose, and the simulator's own future where it applies.

A session keeps a rolling history: the last ``context_frames`` frames (the clip's recorded ones at
first, generated ones later) and the action after each (row t the action after frame t, as in the
frames file). A press predicts ``frames`` new frames with ``cond`` = those actions, the last
frame's replaced by the chosen one, then the chosen action held over the new frames: exactly the
rows a counterfactual clip gives a model (genvid.data.counterfactuals), so a press of "left" from
a clip's start is the simulator's replay of "left". The generator of a press is seeded from
(seed, clip, step), so the same presses give the same bytes, and two actions pressed at the same
step draw the same noise (their frames differ only where the model reads the action).
"""
from __future__ import annotations

import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from genvid.data.frames import ACTION_NAMES
from genvid.errors import GenvidError
from genvid.train.sampler import derived_seed

STEER_RANGE = (-1.0, 1.0)  # the simulator's steering (genvid.data.simulator: |steer| = 1 is full lock)
# The held actions when the benchmark names none (the default profile's counterfactual actions)
DEFAULT_ACTIONS = {"left": (-0.05, 0.1, 0.0), "straight": (0.0, 0.1, 0.0), "right": (0.05, 0.1, 0.0),
                   "brake": (0.0, 0.0, 0.6)}


class DriveError(GenvidError):
    """Malformed input to the page's API (the HTTP status it answers with)."""

    status = 400


class NotFound(DriveError):
    status = 404


@dataclass(frozen=True)
class Truth:
    """The simulator's replay of a clip: its true futures under each held action."""

    actions: tuple[str, ...]  # names of the K held actions
    frames: np.ndarray  # uint8 [K, horizon, H, W, C]


@dataclass(frozen=True)
class Clip:
    """A start: a protocol test clip's context frames and the actions recorded after them."""

    start: int  # its first frame in the frames file
    episode: int
    context: np.ndarray  # uint8 [Tc, H, W, C]
    actions: np.ndarray  # float32 [Tc, A]: row t the recorded action after context frame t
    truth: Truth | None = None


@dataclass(frozen=True)
class Generated:
    step: int  # 0: the first frame after the context
    frame: np.ndarray  # uint8 [H, W, C]
    truth: np.ndarray | None  # the simulator's frame at this step under the same held action
    why_not: str  # why there is no truth ("" when there is)


@dataclass(frozen=True)
class Press:
    session: str
    action: str  # a held action's name, or "steer +0.020" (the slider)
    values: tuple[float, ...]  # steer, throttle, brake
    frames: tuple[Generated, ...]


@dataclass(frozen=True)
class Start:
    session: str
    clip: int
    context: np.ndarray  # uint8 [Tc, H, W, C]
    why_not: str  # why the simulator's future will not be shown ("" when it can be)


@dataclass
class Session:
    clip: int
    window: np.ndarray  # uint8 [Tc, H, W, C]: the last Tc frames
    after: np.ndarray  # float32 [Tc, A]: the action after each (the last row: replaced by the next press)
    generated: int = 0
    held: str | None = None  # the named action of every press so far (None before the first)
    departed: str = ""  # once the presses are no longer one held action: how (no truth from then on)


@dataclass
class Engine:
    """The page's state: the model, the clips it starts from, the named actions, the sessions."""

    predictor: Any  # genvid.models.predictor.Predictor
    clips: Sequence[Clip]
    actions: Mapping[str, tuple[float, float, float]]  # button name -> (steer, throttle, brake)
    conditioned: bool  # whether the model reads the actions (ModelSpec.conditioning)
    run: str = "model"
    seed: int = 0
    frames_per_press: int = 1
    max_frames_per_press: int = 8
    max_sessions: int = 16
    no_truth: str = "the benchmark has no counterfactual clips"  # why no clip has a simulator replay
    cruise: tuple[float, float] = field(init=False)  # the slider's throttle and brake
    _sessions: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.clips:
            raise GenvidError("the driving page needs at least one test clip to start from")
        if not self.actions:
            raise GenvidError("the driving page needs at least one named action")
        if not 1 <= self.frames_per_press <= self.max_frames_per_press:
            raise GenvidError(f"frames per press must be in [1, {self.max_frames_per_press}], got {self.frames_per_press}")
        if self.max_sessions < 1:
            raise GenvidError(f"max_sessions must be >= 1, got {self.max_sessions}")
        self.actions = {name: tuple(float(v) for v in values) for name, values in self.actions.items()}
        # the straight action's, so that the slider changes the steering only
        self.cruise = self.actions.get("straight", (0.0, 0.0, 0.0))[1:]

    @property
    def context_frames(self) -> int:
        return int(self.clips[0].context.shape[0])

    def info(self) -> dict[str, Any]:
        """What the page builds itself from (plain JSON values)."""
        h, w = self.clips[0].context.shape[1:3]
        note = "" if self.conditioned else (f"{self.run} reads no actions (its model declares no conditioning): "
                                            "every button gives the same frames")
        return {"run": self.run, "conditioned": self.conditioned, "note": note,
                "actions": [dict(zip(("name", *ACTION_NAMES), (n, *v))) for n, v in self.actions.items()],
                "clips": [{"index": i, "start": c.start, "episode": c.episode, "truth": c.truth is not None}
                          for i, c in enumerate(self.clips)],
                "context_frames": self.context_frames, "height": int(h), "width": int(w),
                "frames_per_press": self.frames_per_press, "max_frames_per_press": self.max_frames_per_press,
                "steer_range": list(STEER_RANGE), "max_sessions": self.max_sessions}

    # ------------------------------------------------------------------ sessions

    def start(self, clip: Any) -> Start:
        """A new session at test clip ``clip`` (an index of ``clips``); the oldest one goes past
        ``max_sessions``."""
        if isinstance(clip, bool) or not isinstance(clip, int):
            raise DriveError(f"clip must be an integer, got {clip!r}")
        if not 0 <= clip < len(self.clips):
            raise NotFound(f"unknown clip {clip}: the test clips are 0 to {len(self.clips) - 1}")
        c = self.clips[clip]
        session = Session(clip, c.context.copy(), np.asarray(c.actions, np.float32).copy())
        with self._lock:
            sid = secrets.token_urlsafe(12)
            self._sessions[sid] = session
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return Start(sid, clip, c.context, "" if c.truth is not None else self._clip_without_truth())

    def press(self, session: Any, action: Any = None, steer: Any = None, frames: Any = None) -> Press:
        """The next ``frames`` frames of ``session`` under a named ``action`` or, from the slider,
        ``steer`` in [-1, 1] with the straight action's throttle and brake."""
        name, values = self._action(action, steer)
        k = self.frames_per_press if frames is None else frames
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= self.max_frames_per_press:
            raise DriveError(f"frames must be an integer in [1, {self.max_frames_per_press}], got {k!r}")
        with self._lock:
            s = self._session(session)
            self._sessions.move_to_end(session)
            clip = self.clips[s.clip]
            value = np.asarray(values, np.float32)
            given = {}
            if self.conditioned:
                rows = s.after.copy()
                rows[-1] = value  # the action after the last frame is the one chosen now
                given["cond"] = torch.from_numpy(np.concatenate([rows, np.repeat(value[None], k, 0)])[None])
            generator = torch.Generator().manual_seed(derived_seed(self.seed, s.clip, s.generated))
            futures = self.predictor.predict(torch.from_numpy(s.window[None].copy()), k, 1, generator, **given)
            new = np.asarray(futures)[0, 0]
            self._note_action(s, clip, name, action is not None)
            out = tuple(Generated(s.generated + i, new[i], *self._truth(s, clip, s.generated + i)) for i in range(k))
            s.after[-1] = value
            s.window = np.concatenate([s.window, new])[-len(s.window):]
            s.after = np.concatenate([s.after, np.repeat(value[None], k, 0)])[-len(s.after):]
            s.generated += k
        return Press(session, name, tuple(float(v) for v in values), out)

    def sessions(self) -> int:
        return len(self._sessions)

    # ------------------------------------------------------------------ helpers

    def _session(self, session: Any) -> Session:
        if not isinstance(session, str) or session not in self._sessions:
            shown = session[:40] if isinstance(session, str) else session
            raise NotFound(f"unknown session {shown!r} (expired or never started: start a clip again; "
                           f"the page keeps the {self.max_sessions} most recent)")
        return self._sessions[session]

    def _action(self, action: Any, steer: Any) -> tuple[str, tuple[float, ...]]:
        if (action is None) == (steer is None):
            raise DriveError("give either 'action' (a named action) or 'steer' (a number in [-1, 1]), not "
                             f"{'both' if action is not None else 'neither'}")
        if action is not None:
            if not isinstance(action, str) or action not in self.actions:
                raise DriveError(f"unknown action {action!r} (known: {', '.join(self.actions)})")
            return action, self.actions[action]
        if isinstance(steer, bool) or not isinstance(steer, Real) or not math.isfinite(float(steer)):
            raise DriveError(f"steer must be a number in [-1, 1], got {steer!r}")
        if not STEER_RANGE[0] <= float(steer) <= STEER_RANGE[1]:
            raise DriveError(f"steer must be in [-1, 1], got {float(steer)}")
        return f"steer {float(steer):+.3f}", (float(steer), *self.cruise)

    def _note_action(self, s: Session, clip: Clip, name: str, named: bool) -> None:
        """Record whether the presses so far are still one held action the simulator replayed."""
        if s.departed or clip.truth is None:
            return
        if not named:
            s.departed = (f"a steering of {name.split()[1]} from the slider: the simulator replayed only the held "
                          f"actions {', '.join(clip.truth.actions)}")
        elif name not in clip.truth.actions:
            s.departed = f"the simulator replayed no held '{name}' (only {', '.join(clip.truth.actions)})"
        elif s.held is not None and name != s.held:
            s.departed = (f"the presses changed action ({s.held}, then {name}): the simulator replayed each action "
                          "held from the clip's start")
        else:
            s.held = name

    def _truth(self, s: Session, clip: Clip, step: int) -> tuple[np.ndarray | None, str]:
        if clip.truth is None:
            return None, self._clip_without_truth()
        if s.departed:
            return None, s.departed
        replayed = clip.truth.frames.shape[1]
        if step >= replayed:
            return None, f"past the simulator's replay of {replayed} frames"
        return clip.truth.frames[clip.truth.actions.index(s.held), step], ""

    def _clip_without_truth(self) -> str:
        with_truth = [str(i) for i, c in enumerate(self.clips) if c.truth is not None]
        if not with_truth:
            return self.no_truth
        return f"the simulator replayed {len(with_truth)} of the {len(self.clips)} test clips, not this one " \
               f"(clips {', '.join(with_truth)})"
