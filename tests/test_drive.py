"""The driving page (genvid/drive): its sessions on a hand-made steered predictor and hand-made
clips (no trained model), its HTTP API and server, its CLI's bad input, an Engine loaded from a
run of the tiny profile, the latency benchmark at a smoke scale, and the page in a real headless
Chromium (skipped, saying why, where Debian's chromium and chromium-driver are absent).

The browser test drives its own server; with GENVID_DRIVE_URL it drives that one instead (e.g.
``make drive``), and GENVID_DRIVE_SCREENSHOT names where its screenshot goes (docs/drive.png was
made that way, from the default profile's trained driving-svg_lp_action).
"""
from __future__ import annotations

import contextlib
import http.client
import inspect
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import yaml

from conftest import ROOT, venv_env
from genvid.drive import __main__ as cli
from genvid.drive.app import DEFAULT_HOST, build_app, listen
from genvid.drive.app import serving as app_serving
from genvid.drive.engine import DEFAULT_ACTIONS, Clip, DriveError, Engine, NotFound, Truth
from genvid.errors import GenvidError
from genvid.models.predictor import check_cond, check_context

TC, SIZE, HORIZON = 4, 16, 3


class SteerShift:
    """A hand-made Predictor: each new frame is the previous one moved 2 pixels left or right by
    the sign of its steering (the row of cond that leads to it), plus the generator's noise."""

    def __init__(self, conditioned: bool = True):
        self.conditioned, self.calls = conditioned, []

    def predict(self, context, horizon, num_samples, generator, cond=None):
        check_context(context)
        check_cond(cond, context, horizon, self.conditioned)
        self.calls.append((context.clone(), None if cond is None else cond.clone()))
        b, tc = context.shape[:2]
        frame, out = context[:, -1].to(torch.int16), []
        for t in range(horizon):
            steer = cond[:, tc - 1 + t, 0] if cond is not None else torch.zeros(b)
            frame = torch.stack([torch.roll(f, 2 * int(torch.sign(s)), dims=1) for f, s in zip(frame, steer)])
            frame = (frame + torch.randint(-3, 4, frame.shape, generator=generator, dtype=torch.int16)).clamp(0, 255)
            out.append(frame.to(torch.uint8))
        return torch.stack(out, 1)[:, None].expand(-1, num_samples, -1, -1, -1, -1).contiguous()


def hand_made_clips(truth_on=(1,)) -> list[Clip]:
    rng = np.random.default_rng(0)
    columns = np.arange(SIZE)[None, :, None] * 13 + np.array([40, 90, 160])  # [1, W, 3]: stripes to move
    road = (columns % 256).repeat(SIZE, 0).astype(np.uint8)
    clips = []
    for i in range(3):
        context = np.stack([np.roll(road, i + t, axis=1) for t in range(TC)])
        actions = rng.uniform(-0.04, 0.04, (TC, 3)).astype(np.float32)
        truth = Truth(tuple(DEFAULT_ACTIONS), rng.integers(0, 256, (4, HORIZON, SIZE, SIZE, 3), dtype=np.uint8)) \
            if i in truth_on else None
        clips.append(Clip(100 + 16 * i, 7, context, actions, truth))
    return clips


def engine(conditioned: bool = True, **kwargs) -> Engine:
    options = {"run": "hand-made", "seed": 7, "max_frames_per_press": HORIZON + 1, **kwargs}
    return Engine(SteerShift(conditioned), hand_made_clips(), DEFAULT_ACTIONS, conditioned, **options)


def drive(e: Engine, clip: int, presses) -> list[np.ndarray]:
    session = e.start(clip).session
    return [g.frame for p in presses for g in e.press(session, **p).frames]


# ----------------------------------------------------------------------------- the engine

def test_the_same_presses_give_the_same_bytes_and_left_and_right_differ():
    presses = [{"action": "left"}, {"action": "left", "frames": 2}, {"steer": 0.02}]
    a, b = drive(engine(), 1, presses), drive(engine(), 1, presses)
    assert len(a) == 4 and all(x.tobytes() == y.tobytes() for x, y in zip(a, b))
    left, right = drive(engine(), 1, [{"action": "left"}] * 3), drive(engine(), 1, [{"action": "right"}] * 3)
    assert all(x.tobytes() != y.tobytes() for x, y in zip(left, right))
    assert drive(engine(seed=8), 1, presses)[0].tobytes() != a[0].tobytes()  # the seed is in the noise


def test_a_press_gives_the_recorded_actions_then_the_chosen_one_held():
    e = engine()
    clip = e.clips[0]
    session = e.start(0).session
    first = e.press(session, "left", frames=2)
    context, cond = e.predictor.calls[-1]
    assert np.array_equal(context[0].numpy(), clip.context) and cond.shape == (1, TC + 2, 3)
    assert np.array_equal(cond[0, :TC - 1].numpy(), clip.actions[:TC - 1])  # recorded, up to the last frame
    assert np.allclose(cond[0, TC - 1:].numpy(), DEFAULT_ACTIONS["left"])  # chosen from the last frame on
    e.press(session, "right")
    context, cond = e.predictor.calls[-1]
    assert np.array_equal(context[0, :2].numpy(), clip.context[2:])  # the window rolled by 2 frames
    assert np.array_equal(context[0, 2].numpy(), first.frames[0].frame)
    assert np.array_equal(cond[0, 0].numpy(), clip.actions[2])
    assert np.allclose(cond[0, 1:3].numpy(), DEFAULT_ACTIONS["left"])  # what led to the generated frames
    assert np.allclose(cond[0, 3:].numpy(), DEFAULT_ACTIONS["right"])


def test_the_simulators_future_is_shown_only_while_one_held_action_was_pressed():
    e = engine()
    truth = e.clips[1].truth.frames  # [K, horizon, ...]; K in DEFAULT_ACTIONS order
    session = e.start(1).session
    shown = [g for _ in range(2) for g in e.press(session, "right").frames]
    assert [g.step for g in shown] == [0, 1] and not any(g.why_not for g in shown)
    assert all(np.array_equal(g.truth, truth[2, g.step]) for g in shown)
    more = e.press(session, "right", frames=2).frames
    assert np.array_equal(more[0].truth, truth[2, 2])
    assert more[1].truth is None and "past the simulator's replay of 3 frames" in more[1].why_not

    session = e.start(1).session
    assert e.press(session, "left").frames[0].truth is not None
    changed = e.press(session, "straight").frames[0]
    assert changed.truth is None and "changed action (left, then straight)" in changed.why_not
    assert e.press(session, "left").frames[0].truth is None  # once departed, never again

    session = e.start(1).session
    slider = e.press(session, steer=-0.05).frames[0]
    assert slider.truth is None and "slider" in slider.why_not

    start = e.start(0)
    assert "not this one (clips 1)" in start.why_not
    assert "not this one" in e.press(start.session, "left").frames[0].why_not
    none = Engine(SteerShift(), hand_made_clips(truth_on=()), DEFAULT_ACTIONS, True, no_truth="no replay: why")
    assert none.press(none.start(1).session, "left").frames[0].why_not == "no replay: why"


def test_a_model_that_reads_no_actions_gets_none_and_the_page_says_so():
    e = engine(conditioned=False)
    left, right = drive(e, 1, [{"action": "left"}] * 2), drive(e, 1, [{"action": "right"}] * 2)
    assert all(c is None for _, c in e.predictor.calls)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(left, right))
    assert "reads no actions" in e.info()["note"] and engine().info()["note"] == ""


@pytest.mark.parametrize("call, error, message", [
    (lambda e, s: e.start(3), NotFound, "unknown clip 3: the test clips are 0 to 2"),
    (lambda e, s: e.start(-1), NotFound, "unknown clip -1"),
    (lambda e, s: e.start(True), DriveError, "clip must be an integer"),
    (lambda e, s: e.press("nope", "left"), NotFound, "unknown session 'nope'"),
    (lambda e, s: e.press(s, "up"), DriveError, "unknown action 'up' (known: left, straight, right, brake)"),
    (lambda e, s: e.press(s), DriveError, "not neither"),
    (lambda e, s: e.press(s, "left", 0.1), DriveError, "not both"),
    (lambda e, s: e.press(s, steer=1.5), DriveError, "steer must be in [-1, 1], got 1.5"),
    (lambda e, s: e.press(s, steer=float("nan")), DriveError, "steer must be a number"),
    (lambda e, s: e.press(s, steer="0.1"), DriveError, "steer must be a number"),
    (lambda e, s: e.press(s, steer=True), DriveError, "steer must be a number"),
    (lambda e, s: e.press(s, "left", frames=0), DriveError, "frames must be an integer in [1, 4], got 0"),
    (lambda e, s: e.press(s, "left", frames=5), DriveError, "frames must be an integer in [1, 4]"),
])
def test_malformed_calls_are_refused_with_a_message(call, error, message):
    e = engine()
    session = e.start(0).session
    with pytest.raises(error) as err:
        call(e, session)
    assert message in str(err.value)
    assert len(e.predictor.calls) == 0


def test_sessions_are_bounded_the_oldest_goes_first():
    e = engine(max_sessions=2)
    a, b = e.start(0).session, e.start(1).session
    e.press(a, "left")  # a is now the most recent
    c = e.start(2).session
    assert e.sessions() == 2
    with pytest.raises(NotFound, match="unknown session"):
        e.press(b, "left")
    assert e.press(a, "left").frames and e.press(c, "left").frames


# ----------------------------------------------------------------------------- HTTP

@pytest.fixture
def client():
    with warnings.catch_warnings():  # starlette's notice that a later httpx takes over its test client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    return TestClient(build_app(engine()))


def test_the_api_starts_presses_and_returns_png_data_urls(client):
    info = client.get("/api/info").json()
    assert [a["name"] for a in info["actions"]] == list(DEFAULT_ACTIONS) and info["context_frames"] == TC
    assert [c["truth"] for c in info["clips"]] == [False, True, False]
    start = client.post("/api/sessions", json={"clip": 1}).json()
    assert len(start["context"]) == TC and start["truth"] and start["context"][0].startswith("data:image/png;base64,")
    press = client.post(f"/api/sessions/{start['session']}/press", json={"action": "left", "frames": 2}).json()
    assert press["action"] == "left" and [f["step"] for f in press["frames"]] == [0, 1]
    assert all(f["truth"].startswith("data:image/png") and f["why_not"] == "" for f in press["frames"])
    again = client.post(f"/api/sessions/{start['session']}/press", json={"steer": -0.1}).json()
    assert again["action"] == "steer -0.100" and again["frames"][0]["truth"] is None
    page = client.get("/")
    assert page.status_code == 200 and "/static/drive.js" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for name in ("drive.js", "drive.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert "http" not in (ROOT / "genvid/drive/static/drive.js").read_text()  # no fetch leaves the server


@pytest.mark.parametrize("path, body, status, message", [
    ("/api/sessions", {"clip": 9}, 404, "unknown clip 9"),
    ("/api/sessions", {"clip": "0"}, 422, "clip: Input should be a valid integer (got '0')"),
    ("/api/sessions", {"clip": 0.5}, 422, "clip: Input should be a valid integer"),
    ("/api/sessions", {"clip": 0, "seed": 1}, 422, "seed: Extra inputs are not permitted"),
    ("/api/sessions", {}, 422, "clip: Field required"),
    ("/api/sessions", [0], 422, "Input should be a valid dictionary"),
    ("/api/sessions/unknown/press", {"action": "left"}, 404, "unknown session 'unknown'"),
    ("PRESS", {"action": "reverse"}, 400, "unknown action 'reverse'"),
    ("PRESS", {"steer": 2}, 400, "steer must be in [-1, 1], got 2.0"),
    ("PRESS", {"steer": "left"}, 422, "steer: Input should be a valid number (got 'left')"),
    ("PRESS", {"steer": True}, 422, "steer: Input should be a valid number"),
    ("PRESS", {"action": "left", "frames": 99}, 400, "frames must be an integer in [1, 4], got 99"),
    ("PRESS", {"action": "left", "frames": "2"}, 422, "frames: Input should be a valid integer"),
    ("PRESS", {"action": "left", "steer": 0}, 400, "not both"),
    ("PRESS", b"{not json", 422, "the body is not valid JSON"),
    ("PRESS", b"", 422, "body: Field required"),
    ("/api/nothing", {}, 404, "not found: /api/nothing"),
])
def test_malformed_requests_get_a_4xx_and_one_clear_message(client, path, body, status, message):
    session = client.post("/api/sessions", json={"clip": 0}).json()["session"]
    path = path.replace("PRESS", f"/api/sessions/{session}/press")
    if isinstance(body, bytes):
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    else:
        response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_an_oversized_body_gets_a_413_and_one_line_declared_or_chunked(client):
    """Issue 47: a body over MAX_BODY bytes is refused before the app reads it whole, from its
    Content-Length or, sent in chunks (no length declared), as the chunks pass the limit."""
    from genvid.drive.app import MAX_BODY

    session = client.post("/api/sessions", json={"clip": 0}).json()["session"]
    path = f"/api/sessions/{session}/press"
    big = b'{"action": "' + b"l" * MAX_BODY + b'"}'
    declared = client.post(path, content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and declared.json() == {"error": f"the request body is over {MAX_BODY} bytes"}
    assert "default-src 'none'" in declared.headers["content-security-policy"]

    def pieces():
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]

    chunked = client.post(path, content=pieces(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and chunked.json() == declared.json()
    ok = client.post(path, content=b'{"action": "left"}', headers={"Content-Type": "application/json"})
    assert ok.status_code == 200  # a body within the limit, after the refusals: the session goes on


@contextlib.contextmanager
def serving(e: Engine):
    """``build_app(e)`` on a real uvicorn server on a free loopback port, in a thread: its URL."""
    with app_serving(e) as port:
        yield f"http://{DEFAULT_HOST}:{port}"


def test_the_server_serves_its_own_static_files_only_and_binds_to_loopback():
    with serving(engine()) as url:
        port = int(url.rsplit(":", 1)[1])

        def get(path: str) -> tuple[int, bytes]:
            conn = http.client.HTTPConnection(DEFAULT_HOST, port, timeout=10)
            conn.putrequest("GET", path, skip_accept_encoding=True)  # the path exactly as written
            conn.endheaders()
            response = conn.getresponse()
            out = response.status, response.read()
            conn.close()
            return out

        secret = (ROOT / "params.yaml").read_bytes()[:200]
        for path in ("/static/../../params.yaml", "/static/..%2f..%2fparams.yaml", "/static/%2e%2e/%2e%2e/params.yaml",
                     "/../params.yaml", "/static/", "/static/index.html", "/static/drive.js/../../params.yaml",
                     "/params.yaml", "/static//etc/passwd"):
            status, body = get(path)
            assert status == 404 and secret not in body and b"root:" not in body, path
        assert get("/static/drive.js")[0] == 200 and get("/")[0] == 200
    assert cli.parser().parse_args([]).host == DEFAULT_HOST == "127.0.0.1"
    assert inspect.signature(listen).parameters["host"].default == DEFAULT_HOST
    with contextlib.closing(listen(port=0)) as sock:
        assert sock.getsockname()[0] == "127.0.0.1"


def test_a_port_in_use_is_one_error_line():
    taken = listen(DEFAULT_HOST, 0)
    try:
        with pytest.raises(GenvidError, match=r"--host 127.0.0.1 --port \d+: cannot listen there"):
            listen(DEFAULT_HOST, taken.getsockname()[1])
    finally:
        taken.close()


# ----------------------------------------------------------------------------- the CLI and a run

def test_an_unknown_run_exits_2_with_one_line_and_no_traceback(tmp_path):
    out = subprocess.run([sys.executable, "-m", "genvid.drive", "--run", "driving-nope", "--params",
                          str(ROOT / "params.yaml"), "--root", str(tmp_path)], cwd=ROOT, env=venv_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ") and "driving-nope" in out.stderr


def bad_cli(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_a_missing_model_folder_or_benchmark_without_frames_exits_2(tmp_path, capsys):
    params = ["--params", str(ROOT / "params.yaml"), "--root", str(tmp_path)]
    assert "no model folder for run driving-svg_lp_action (train it first" in bad_cli(capsys, params)
    from genvid.context import run_context
    from genvid.models.store import write_run_record

    ctx, _ = run_context(ROOT / "params.yaml", "driving-svg_lp_action", tmp_path)
    write_run_record(ctx)
    assert "data/driving/frames.h5: file not found" in bad_cli(capsys, params)
    assert "--port" in bad_cli(capsys, [*params, "--port", "70000"])
    assert "--frames-per-press" in bad_cli(capsys, [*params, "--frames-per-press", "0"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A root with the tiny profile's driving data (collect, split, normalize, counterfactuals) and
    driving-svg_lp_action's model freshly initialised in place of training."""
    from genvid import params as P
    from genvid.context import run_context
    from genvid.models.registry import get
    from genvid.models.store import write_run_record
    from genvid.profiles import apply, load_profile
    from stages import collect, counterfactuals, normalize, split

    root = tmp_path_factory.mktemp("tiny")
    params = root / "params.yaml"
    tiny = apply(P.read_params(ROOT / "params.yaml"), load_profile("tiny", ROOT / "profiles"))
    params.write_text(yaml.safe_dump(tiny, sort_keys=False))
    given = ["--benchmark", "driving", "--params", str(params), "--root", str(root)]
    for stage in (collect, split, normalize):
        stage.main(given)
    counterfactuals.main([*given, "--no-progress"])
    ctx, _ = run_context(params, "driving-svg_lp_action", root)
    torch.manual_seed(0)
    get(ctx.run.model).init(ctx, 32, 32, 3)
    write_run_record(ctx)
    return params, root


def test_an_engine_loads_a_run_with_its_test_clips_and_the_simulators_futures(tiny_run):
    from genvid.data.counterfactuals import read_counterfactuals
    from genvid.drive.loading import load_engine

    params, root = tiny_run
    e = load_engine(params, "driving-svg_lp_action", root, frames_per_press=2)
    cf = read_counterfactuals(root / "data/driving/counterfactuals.h5")
    assert e.conditioned and e.run == "driving-svg_lp_action" and e.max_frames_per_press == cf.horizon
    assert list(e.actions) == list(cf.sequences) and e.actions["left"] == pytest.approx(DEFAULT_ACTIONS["left"])
    assert [i for i, c in enumerate(e.clips) if c.truth is not None] == list(cf.index["clip"])
    m, clip = 0, int(cf.index["clip"][0])
    assert np.array_equal(e.clips[clip].context, cf.context[m])
    session = e.start(clip).session
    frames = e.press(session, "left").frames
    assert len(frames) == 2 and frames[0].frame.shape == (32, 32, 3)
    assert np.array_equal(frames[1].truth, cf.frames[m, cf.sequences.index("left"), 1])
    again = load_engine(params, "driving-svg_lp_action", root, frames_per_press=2)
    assert again.press(again.start(clip).session, "left").frames[1].frame.tobytes() == frames[1].frame.tobytes()


def test_the_latency_benchmark_runs_at_a_smoke_scale(tmp_path):
    out = subprocess.run([sys.executable, "benchmarks/drive.py", "--profile", "tiny", "--size", "32", "--presses", "2",
                          "--warmup", "1", "--runs", "driving-copy_last,driving-svg_lp_action", "--root", str(tmp_path)],
                         cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("driving-")]
    assert [r[:3] for r in rows] == [["driving-copy_last", "fresh", "32x32"], ["driving-svg_lp_action", "fresh", "32x32"]]
    assert all(float(r[3]) > 0 for r in rows)


def test_the_soak_benchmark_drives_the_real_server_under_load_and_faults(tmp_path):
    """benchmarks/drive_soak.py at a smoke scale: two concurrent clients on the real server, every press
    answered, each fault one JSON error line, the server up at the end (its figures: docs/results.md)."""
    out = tmp_path / "soak.txt"
    proc = subprocess.run([sys.executable, "benchmarks/drive_soak.py", "--profile", "tiny", "--size", "32",
                           "--clients", "2", "--presses", "10", "--root", str(tmp_path), "--out", str(out)],
                          cwd=ROOT, env=venv_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    text = out.read_text()
    assert text == proc.stdout
    assert "presses answered: 20 of 20; errors: 0" in text and "server still answering /api/info: yes" in text
    faults = [line for line in text.splitlines() if line.startswith("  ")]
    assert len(faults) == 7 and not any("NOT " in line for line in faults)
    assert "a body of 64 KiB: 413 the request body is over" in text
    assert "a body of 64 KiB, sent in chunks: 413 the request body is over" in text
    assert "an unknown session: 404 unknown session" in text


# ----------------------------------------------------------------------------- a real browser

def browser_missing() -> str | None:
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        return (f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver "
                "(make test does, as root with apt-get)")
    return None


@pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")
def test_steering_left_and_right_in_headless_chromium(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = Options()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1100,1060",
                "--disable-extensions", "--no-first-run", "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--disable-default-apps", "--metrics-recording-only"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    external = os.environ.get("GENVID_DRIVE_URL")
    with contextlib.ExitStack() as stack:
        url = external or stack.enter_context(serving(engine()))
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        stack.callback(driver.quit)
        wait = WebDriverWait(driver, 120)

        def strip(kind: str) -> list[str]:  # in one script: the page may replace the strip meanwhile
            return driver.execute_script(f"return [...document.querySelectorAll('#strip img.{kind}')].map(i => i.src)")

        def steer(button: str) -> list[str]:
            wait.until(lambda d: len(strip("real")) > 0 and len(strip("generated")) == 0)
            for _ in range(3):
                driver.find_element(By.ID, button).click()
            wait.until(lambda d: len(strip("generated")) == 3)
            return strip("generated")

        driver.get(url + "/")
        left = steer("act-left")
        assert len(set(left)) == 3 and all(src.startswith("data:image/png;base64,") for src in left)
        assert driver.find_element(By.ID, "current").get_attribute("src") == left[-1]
        shown_truth = driver.find_element(By.ID, "truth").is_displayed()
        driver.find_element(By.ID, "start").click()  # a fresh session on the same clip
        right = steer("act-right")
        assert all(a != b for a, b in zip(left, right))
        if not external:
            assert shown_truth and len(strip("truth")) == 3  # clip 1, the first with a simulator replay
        driver.find_element(By.TAG_NAME, "body").send_keys("d")  # the keyboard: d steers right
        wait.until(lambda d: len(strip("generated")) == 4)
        assert driver.find_element(By.ID, "error").is_displayed() is False
        resources = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert resources and all(r.startswith(url) for r in resources)  # nothing from the network
        severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == []
        for path in filter(None, (tmp_path / "drive.png", os.environ.get("GENVID_DRIVE_SCREENSHOT"))):
            assert driver.save_screenshot(str(path))
