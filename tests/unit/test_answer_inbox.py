"""The hand-over of workers' answers to the I/O thread (rover_mt/inbox.py): the
loop is woken only when it sleeps, once, and never sleeps on a waiting answer."""

from __future__ import annotations

import threading
import time

from rover_mt.inbox import AnswerInbox


class Wakes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def test_before_the_loop_reports_in_the_first_answer_wakes_it():
    wakes = Wakes()
    inbox = AnswerInbox(wakes)
    inbox.put("a")
    inbox.put("b")
    assert wakes.count == 1  # one wake-up until the loop takes them
    assert inbox.take() == ["a", "b"]
    inbox.put("c")
    assert wakes.count == 2
    assert len(inbox) == 1


def test_an_awake_loop_is_not_woken():
    wakes = Wakes()
    inbox = AnswerInbox(wakes)
    inbox.awake()
    for i in range(5):
        inbox.put(i)
    assert wakes.count == 0
    assert len(inbox) == 5
    # The loop must not sleep on them: sleeping() refuses while answers wait.
    assert inbox.sleeping() is False
    assert inbox.take() == [0, 1, 2, 3, 4]
    assert inbox.sleeping() is True
    inbox.put("late")  # arrives while the loop sleeps
    assert wakes.count == 1
    inbox.put("later")
    assert wakes.count == 1


def test_no_answer_is_stranded_while_the_loop_goes_to_sleep():
    # Workers put answers while the loop alternates awake / sleeping(); each
    # answer must either be seen by sleeping() (False) or wake the loop.
    wakes = Wakes()
    inbox = AnswerInbox(wakes)
    total = 20000
    done = threading.Event()

    def worker() -> None:
        for i in range(total):
            inbox.put(i)
        done.set()

    thread = threading.Thread(target=worker)
    taken: list[int] = []
    thread.start()
    stranded = 0
    while not (done.is_set() and not len(inbox)):
        inbox.awake()
        taken.extend(inbox.take())
        before = wakes.count
        if inbox.sleeping():
            # A real loop now blocks until woken: the inbox must have woken it
            # for anything put from here on, or it stays empty.
            done.wait(0.001)
            if len(inbox) and wakes.count == before:
                stranded += 1
    thread.join(timeout=10)
    taken.extend(inbox.take())
    assert taken == list(range(total))
    assert stranded == 0


def test_a_pause_ends_early_when_an_answer_arrives():
    # The engine's shed pause waits in wait(): an answer must end the wait at
    # once (and not write the self-pipe), not after the whole pause.
    wakes = Wakes()
    inbox = AnswerInbox(wakes)
    inbox.awake()
    assert inbox.wait(0.01) is False  # nothing came: the whole pause
    timer = threading.Timer(0.05, inbox.put, args=("answer",))
    timer.start()
    t0 = time.monotonic()
    assert inbox.wait(5.0) is True
    assert time.monotonic() - t0 < 2.0
    timer.join(timeout=5)
    assert wakes.count == 0
    assert inbox.take() == ["answer"]
    inbox.put("waiting")
    assert inbox.wait(5.0) is True  # already there: no wait at all
