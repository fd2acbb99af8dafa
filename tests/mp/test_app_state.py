# The device state machine under real MicroPython: every flow of protocol.md step by step, and a
# coverage check that every row of both transition tables was exercised by an asserted step.
from app import state as S
from app.state import StateMachine

_covered = {}


def _step(sm, event, expect_state, expect_actions=None):
    before = sm.state
    mode = sm.mode
    actions = sm.handle(event)
    _covered[(mode, before, event)] = True
    assert sm.state == expect_state, "%s on %s: got %s, want %s" % (
        S.STATE_NAMES[before], S.EVENT_NAMES[event], S.STATE_NAMES[sm.state],
        S.STATE_NAMES[expect_state])
    if expect_actions is not None:
        assert tuple(actions) == tuple(expect_actions), "%s on %s: actions %r" % (
            S.STATE_NAMES[before], S.EVENT_NAMES[event], actions)
    return actions


def _online(mode):
    sm = StateMachine(mode)
    _step(sm, S.E_BOOTED, S.WIFI, (S.A_WIFI_CONNECT,))
    _step(sm, S.E_WIFI_UP, S.CONNECTING, (S.A_CONNECT,))
    if mode == S.MODE_PTT:
        _step(sm, S.E_CONNECTED, S.READY, (S.A_RESET_BACKOFF,))
    else:
        _step(sm, S.E_CONNECTED, S.LISTENING, (S.A_RESET_BACKOFF, S.A_START_STREAM))
    return sm


def _at(mode, st):
    sm = StateMachine(mode)
    sm.state = st
    return sm


def test_boot_and_wifi_retries():
    for mode in (S.MODE_PTT, S.MODE_FREE):
        _boot_and_retries(mode)
    _step(_at(S.MODE_FREE, S.READY), S.E_DOUBLE_PRESS, S.READY, (S.A_NEW_CONVERSATION,))


def _boot_and_retries(mode):
    sm = StateMachine(mode)
    _step(sm, S.E_BOOTED, S.WIFI)
    _step(sm, S.E_WIFI_FAILED, S.WIFI, (S.A_SCHEDULE_RETRY,))
    _step(sm, S.E_RETRY, S.WIFI, (S.A_WIFI_CONNECT,))
    _step(sm, S.E_WIFI_UP, S.CONNECTING)
    _step(sm, S.E_CONNECT_FAILED, S.RECONNECTING, (S.A_SCHEDULE_RETRY,))
    _step(sm, S.E_RETRY, S.CONNECTING, (S.A_CONNECT,))
    _step(sm, S.E_DISCONNECTED, S.RECONNECTING, (S.A_SCHEDULE_RETRY,))
    _step(sm, S.E_PRESS, S.CONNECTING, (S.A_CONNECT,))


def test_push_to_talk_turn():
    sm = _online(S.MODE_PTT)
    _step(sm, S.E_PRESS, S.LISTENING, (S.A_START_STREAM,))
    _step(sm, S.E_RELEASE, S.THINKING, (S.A_STOP_STREAM, S.A_COMPLETE))
    _step(sm, S.E_AUDIO, S.SPEAKING, ())
    _step(sm, S.E_TURN_DONE, S.SPEAKING, (S.A_END_OF_TURN,))
    _step(sm, S.E_PLAYBACK_DONE, S.READY, ())


def test_push_to_talk_barge_in_and_cancel():
    sm = _online(S.MODE_PTT)
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_PRESS, S.LISTENING, (S.A_STOP_PLAYBACK, S.A_CANCEL, S.A_START_STREAM))
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_AUDIO, S.SPEAKING)
    # Pressing while the bot speaks: cancel, stop and clear, then stream the new question.
    _step(sm, S.E_PRESS, S.LISTENING, (S.A_STOP_PLAYBACK, S.A_CANCEL, S.A_START_STREAM))
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_CANCELED, S.READY, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_CANCELED, S.READY, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_AUDIO, S.SPEAKING)
    _step(sm, S.E_CANCELED, S.READY, (S.A_STOP_PLAYBACK,))


def test_greeting_plays_from_ready():
    sm = _online(S.MODE_PTT)
    _step(sm, S.E_AUDIO, S.SPEAKING, ())
    _step(sm, S.E_TURN_DONE, S.SPEAKING, (S.A_END_OF_TURN,))
    _step(sm, S.E_PLAYBACK_DONE, S.READY, ())


def test_push_to_talk_short_press_and_errors():
    sm = _online(S.MODE_PTT)
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE_SHORT, S.READY, (S.A_STOP_STREAM, S.A_CLEAR_INPUT))
    _step(sm, S.E_DOUBLE_PRESS, S.READY, (S.A_NEW_CONVERSATION,))
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_CLOUD_ERROR, S.READY, (S.A_STOP_STREAM, S.A_CLEAR_INPUT))
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_CLOUD_ERROR, S.READY, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_TURN_DONE, S.READY, ())
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_RELEASE, S.THINKING)
    _step(sm, S.E_AUDIO, S.SPEAKING)
    _step(sm, S.E_CLOUD_ERROR, S.READY, (S.A_STOP_PLAYBACK,))


def test_mode_toggle_both_ways():
    sm = _online(S.MODE_PTT)
    _step(sm, S.E_PRESS, S.LISTENING)
    _step(sm, S.E_LONG_PRESS, S.LISTENING, (S.A_CLEAR_INPUT, S.A_TOGGLE_MODE))
    assert sm.mode == S.MODE_FREE
    _step(sm, S.E_LONG_PRESS, S.READY, (S.A_STOP_STREAM, S.A_TOGGLE_MODE))
    assert sm.mode == S.MODE_PTT
    sm = _at(S.MODE_PTT, S.READY)  # a set_mode tool call while idle
    _step(sm, S.E_LONG_PRESS, S.LISTENING, (S.A_TOGGLE_MODE, S.A_START_STREAM))
    assert sm.mode == S.MODE_FREE
    sm = _at(S.MODE_FREE, S.READY)
    _step(sm, S.E_PRESS, S.LISTENING, (S.A_START_STREAM,))


def test_free_talk_turn_and_voice_barge_in():
    sm = _online(S.MODE_FREE)
    _step(sm, S.E_SPEECH_STARTED, S.LISTENING, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_SPEECH_STOPPED, S.THINKING, ())
    _step(sm, S.E_AUDIO, S.SPEAKING, ())
    _step(sm, S.E_SPEECH_STARTED, S.LISTENING, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_SPEECH_STOPPED, S.THINKING)
    _step(sm, S.E_SPEECH_STARTED, S.LISTENING, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_SPEECH_STOPPED, S.THINKING)
    _step(sm, S.E_TURN_DONE, S.LISTENING, ())
    _step(sm, S.E_AUDIO, S.SPEAKING, ())  # a reply can start before speech_stopped lands
    _step(sm, S.E_TURN_DONE, S.SPEAKING, (S.A_END_OF_TURN,))
    _step(sm, S.E_PLAYBACK_DONE, S.LISTENING, ())


def test_free_talk_local_voice_barge_in():
    # The device's own detection (audio/echo.py) interrupts like a press: silence, then cancel.
    # Outside SPEAKING it is no one's business (ignored); the server's speech_started after it
    # only clears what may still be buffered.
    sm = _online(S.MODE_FREE)
    _step(sm, S.E_AUDIO, S.SPEAKING, ())
    _step(sm, S.E_VOICE_BARGE_IN, S.LISTENING, (S.A_STOP_PLAYBACK, S.A_CANCEL))
    _step(sm, S.E_SPEECH_STARTED, S.LISTENING, (S.A_STOP_PLAYBACK,))
    for st in (S.LISTENING, S.THINKING, S.READY):
        sm = _at(S.MODE_FREE, st)
        assert sm.handle(S.E_VOICE_BARGE_IN) == () and sm.state == st
    sm = _at(S.MODE_PTT, S.SPEAKING)
    assert sm.handle(S.E_VOICE_BARGE_IN) == () and sm.state == S.SPEAKING


def test_free_talk_cancel_press_and_errors():
    sm = _online(S.MODE_FREE)
    _step(sm, S.E_CANCELED, S.LISTENING, (S.A_STOP_PLAYBACK,))
    _step(sm, S.E_TURN_DONE, S.LISTENING, ())
    _step(sm, S.E_CLOUD_ERROR, S.LISTENING, ())
    _step(sm, S.E_DOUBLE_PRESS, S.LISTENING, (S.A_NEW_CONVERSATION,))
    for st, event, actions in (
        (S.THINKING, S.E_CANCELED, (S.A_STOP_PLAYBACK,)),
        (S.THINKING, S.E_CLOUD_ERROR, (S.A_STOP_PLAYBACK,)),
        (S.THINKING, S.E_PRESS, (S.A_STOP_PLAYBACK, S.A_CANCEL)),
        (S.SPEAKING, S.E_CANCELED, (S.A_STOP_PLAYBACK,)),
        (S.SPEAKING, S.E_PRESS, (S.A_STOP_PLAYBACK, S.A_CANCEL)),
        (S.SPEAKING, S.E_CLOUD_ERROR, (S.A_STOP_PLAYBACK,)),
    ):
        _step(_at(S.MODE_FREE, st), event, S.LISTENING, actions)


def test_link_loss_from_every_online_state():
    for mode in (S.MODE_PTT, S.MODE_FREE):
        for st in (S.READY, S.LISTENING, S.THINKING, S.SPEAKING):
            sm = _at(mode, st)
            _step(sm, S.E_DISCONNECTED, S.RECONNECTING,
                  (S.A_STOP_STREAM, S.A_STOP_PLAYBACK, S.A_SCHEDULE_RETRY))
            _step(sm, S.E_RETRY, S.CONNECTING, (S.A_CONNECT,))


def test_auth_fatal_and_wifi_loss_from_every_state():
    for mode in (S.MODE_PTT, S.MODE_FREE):
        for st in range(len(S.STATE_NAMES)):
            _step(_at(mode, st), S.E_AUTH_FAILED, S.ERROR,
                  (S.A_STOP_STREAM, S.A_STOP_PLAYBACK, S.A_DISCONNECT, S.A_REPORT_ERROR))
            _step(_at(mode, st), S.E_FATAL, S.ERROR,
                  (S.A_STOP_STREAM, S.A_STOP_PLAYBACK, S.A_DISCONNECT, S.A_REPORT_ERROR))
            _step(_at(mode, st), S.E_WIFI_LOST, S.WIFI,
                  (S.A_STOP_STREAM, S.A_STOP_PLAYBACK, S.A_DISCONNECT, S.A_WIFI_CONNECT))


def test_error_waits_for_a_press_and_idle_reconnects_lazily():
    for mode in (S.MODE_PTT, S.MODE_FREE):
        sm = _at(mode, S.ERROR)
        for event in (S.E_RETRY, S.E_CONNECTED, S.E_DISCONNECTED, S.E_RELEASE):
            _step(sm, event, S.ERROR, ())  # no retry storm after an auth failure
        _step(sm, S.E_PRESS, S.CONNECTING, (S.A_RESET_BACKOFF, S.A_CONNECT))
        sm = _at(mode, S.READY)
        _step(sm, S.E_IDLE_CLOSED, S.IDLE, ())
        _step(sm, S.E_RETRY, S.IDLE, ())
        _step(sm, S.E_PRESS, S.CONNECTING, (S.A_CONNECT,))


def test_idle_close_in_every_phase():
    link_down = (S.A_STOP_STREAM, S.A_STOP_PLAYBACK, S.A_SCHEDULE_RETRY)
    for mode in (S.MODE_PTT, S.MODE_FREE):
        _step(_at(mode, S.CONNECTING), S.E_IDLE_CLOSED, S.RECONNECTING, (S.A_SCHEDULE_RETRY,))
        _step(_at(mode, S.SPEAKING), S.E_IDLE_CLOSED, S.SPEAKING, ())  # the answer plays out
        _step(_at(mode, S.THINKING), S.E_IDLE_CLOSED, S.RECONNECTING, link_down)
        _step(_at(mode, S.LISTENING), S.E_IDLE_CLOSED, S.RECONNECTING, link_down)


def test_illegal_events_are_ignored_and_counted():
    class Lines:
        def __init__(self):
            self.lines = []

        def debug(self, tag, message):
            self.lines.append(message)

        def info(self, tag, message):
            pass

    log = Lines()
    sm = StateMachine(S.MODE_PTT, log)
    assert sm.handle(S.E_AUDIO) == ()
    assert sm.state == S.BOOT and sm.ignored == 1
    assert log.lines == ["ignored AUDIO in BOOT"]
    try:
        StateMachine("walkie")
    except ValueError as exc:
        assert "ptt" in str(exc)
    else:
        raise AssertionError("unknown mode must raise")


def test_zz_every_table_row_was_exercised():
    # Runs last (tests run in name order): each (mode, state, event) row of both tables must have
    # been driven by an asserted step above.
    missing = []
    for mode in (S.MODE_PTT, S.MODE_FREE):
        for key in S.table_for(mode):
            if (mode, key[0], key[1]) not in _covered:
                missing.append("%s %s+%s" % (mode, S.STATE_NAMES[key[0]], S.EVENT_NAMES[key[1]]))
    assert not missing, "untested rows: " + ", ".join(sorted(missing))
