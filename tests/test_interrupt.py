"""The kernel's interrupt button stops a background fit while no cell runs (widget/interrupt.py), in a real
ipykernel started with jupyter_client: the fit ends at an epoch boundary with its finished epochs saved, and
the kernel stays alive and idle."""
import json
import time

import pytest

DVI_SLOW = dict(layout_steps_first=300, layout_steps=300, layout_batch=1024, encoder_steps_first=300,
                encoder_steps=300, decoder_steps_first=100, decoder_steps=100, overlap=False, num_threads=1)


def _value(kc, expr: str, timeout: float = 120):
    reply = kc.execute_interactive("", user_expressions={"v": expr}, timeout=timeout, output_hook=lambda msg: None)
    got = reply["content"]["user_expressions"]["v"]
    assert got["status"] == "ok", got
    return json.loads(got["data"]["text/plain"].strip("'"))


@pytest.fixture
def kernel():
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=120)
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_an_interrupt_of_the_idle_kernel_stops_the_background_fit(kernel, digits_path, tmp_path):
    km, kc = kernel
    cache = tmp_path / "cache"
    reply = kc.execute_interactive(
        "import json\nfrom ttvis_widget import TimeTravelWidget\n"
        f"w = TimeTravelWidget({str(digits_path)!r}, method='dvi', cache_dir={str(cache)!r}, device='cpu', "
        f"**{DVI_SLOW!r})", timeout=120, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    deadline = time.monotonic() + 300
    while _value(kc, "json.dumps(len(w.ready_epochs))") < 1:  # one epoch in, the fit runs on
        assert time.monotonic() < deadline, "the fit never finished an epoch"
        time.sleep(0.5)
    assert _value(kc, "json.dumps(w.progress['state'])") == "fitting"
    time.sleep(0.5)  # the kernel is idle: no cell runs
    km.interrupt_kernel()
    state = _value(kc, "json.dumps([w._fit._thread.join(120), w.progress['state'], len(w.ready_epochs), "
                       "len(w.epochs)][1:])", timeout=180)
    assert state[0] == "stopped" and 1 <= state[1] < state[2] == 8, state
    assert km.is_alive()
    # the run resumes where it stopped: a new widget on the same path finishes it
    kc.execute_interactive(f"w2 = TimeTravelWidget({str(digits_path)!r}, method='dvi', cache_dir={str(cache)!r}, "
                           f"device='cpu', **{DVI_SLOW!r}); w2.wait(600)", timeout=650, output_hook=lambda msg: None)
    assert _value(kc, "json.dumps([len(w2.ready_epochs), w2.progress['state']])") == [8, "done"]
