"""Two threads on one model get what one after the other gets: each analysis holds its models' locks for the
whole call (its hooks and caches never mix with another thread's). Once, attribute in one thread with ablate in
another gave integrated-gradients deltas of 0.85 instead of 0.01, or errors naming hooks nobody attached."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_persistence import _same

import interp

PROBE = "the keys to the cabinet ___ on the table ."
CORRUPT = "the key to the cabinet ___ on the table ."


@pytest.fixture(autouse=True)
def _no_lock_held_before(causal, bidirectional):
    """A lock an earlier test left held by this (main) thread would make every worker below wait for ever."""
    for m in (causal, bidirectional):
        assert not m.lock._is_owned(), f"{m.name}'s lock is held by the main thread before the test"


@pytest.fixture(scope="module")
def jobs(causal, bidirectional):
    c, b = causal, bidirectional
    return {
        "attribute": lambda: interp.attribute(c, PROBE, answer="are"),  # steps doubled to 1% completeness
        "attribute bidirectional": lambda: interp.attribute(
            b, PROBE, answer="are", n_steps=8, tolerance=None
        ),
        "ablate": lambda: interp.ablate(c, PROBE, [(0, 0), (1, 1)], answer="are"),
        "patch": lambda: interp.patch(c, PROBE, CORRUPT, answer="are", contrast="is", progress=False),
        "compare": lambda: interp.compare(c, b, PROBE, answer="are", n_steps=4, tolerance=None),
    }


def test_threads_on_one_model_match_sequential_runs(jobs, causal, bidirectional):
    from conftest import count_hooks

    hooks = count_hooks(causal.bridge), count_hooks(bidirectional.bridge)
    sequential = {name: job() for name, job in jobs.items()}
    order = [name for _ in range(3) for name in jobs]  # every pair of analyses overlaps in some run
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [(name, pool.submit(jobs[name])) for name in order]
        for name, future in futures:
            _same(future.result(timeout=600), sequential[name], name)
    assert (count_hooks(causal.bridge), count_hooks(bidirectional.bridge)) == hooks
    assert not sequential["attribute"].warnings  # complete to 1%: the deltas that once came back wrong


def test_an_analysis_holds_the_models_lock_for_its_whole_call(causal):
    """While one thread is inside an analysis (here: blocked in its objective), the model's lock is held and a
    second thread's analysis waits for it, then gets what it gets alone."""
    similarity = interp.objectives.similarity(causal, "the key to the cabinet is on the table .")
    entered, release = threading.Event(), threading.Event()

    def blocking(resid):
        entered.set()
        assert release.wait(60)
        return similarity(resid)

    alone = interp.attention(causal, PROBE)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(interp.ablate, causal, PROBE, [(0, 0)], objective=blocking)
        assert entered.wait(60)
        assert not causal.lock.acquire(blocking=False)  # held by the first thread
        second = pool.submit(interp.attention, causal, PROBE)
        threading.Event().wait(0.3)
        assert not second.done()  # waiting for the lock, not running beside the first
        release.set()
        first.result(timeout=600)
        _same(second.result(timeout=600), alone)
    assert causal.lock.acquire(blocking=False)
    causal.lock.release()


def test_compare_takes_both_locks_in_one_order(causal, bidirectional):
    """compare holds both models (and, reentrantly, each again in the analyses it calls); one thread comparing
    while others attribute on either model never deadlocks."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = [
            pool.submit(interp.compare, causal, bidirectional, PROBE, answer="are", method=None),
            pool.submit(interp.attribute, bidirectional, PROBE, answer="are", method="saliency"),
            pool.submit(interp.attribute, causal, PROBE, answer="are", method="saliency"),
        ]
        for run in runs:
            run.result(timeout=600)


def test_a_run_without_a_progress_bar_never_takes_tqdms_lock(causal, monkeypatch):
    """tqdm takes one lock for all threads even for a hidden bar; an interrupt inside its acquisition can leave
    it held by the main thread, and every other thread's bar waits for ever (a suite once hung here after the
    interrupt storm). With progress=False no analysis touches it."""
    import tqdm.std

    def refuse(*args, **kwargs):
        raise AssertionError("tqdm's lock was taken with progress=False")

    monkeypatch.setattr(tqdm.std.TqdmDefaultWriteLock, "acquire", refuse)
    interp.patch(causal, PROBE, CORRUPT, answer="are", contrast="is", progress=False)
    interp.head_importance(causal, PROBE, answer="are", progress=False)
    interp.attention(causal, [PROBE, CORRUPT], progress=False)
    interp.score(causal, ["the keys are here .", "the key is here ."], progress=False)
