"""The .tlog reader and writer: framing, errors, round trips, and agreement with pymavlink's."""

import os
from pathlib import Path
import struct

from px4_replay import reference
from pymavlink.dialects.v20 import development as mavlink
import pytest
import tlog
from tlog import read_tlog, summarise, TlogError, TlogWriter


def _packer(sysid: int = 1, compid: int = 1) -> mavlink.MAVLink:
    return mavlink.MAVLink(None, srcSystem=sysid, srcComponent=compid)


def _packed(mav: mavlink.MAVLink, message: mavlink.MAVLink_message) -> bytes:
    return bytes(message.pack(mav))


def _statustext(mav: mavlink.MAVLink, text: str, text_id: int, chunk: int) -> bytes:
    return bytes(mav.statustext_encode(6, text.encode(), text_id, chunk).pack(mav))


def _heartbeat(mav: mavlink.MAVLink, base_mode: int = 29, custom_mode: int = 0x03040000) -> bytes:
    return bytes(mav.heartbeat_encode(2, 12, base_mode, custom_mode, 3).pack(mav))


def test_writer_round_trip(tmp_path: Path) -> None:
    mav = _packer()
    path = tmp_path / 'sub' / 'out.tlog'
    with TlogWriter(path) as writer:
        writer.write(_heartbeat(mav), 1_700_000_000.25)
        status = mav.sys_status_encode(0, 0, 0, 500, 16200, -1, 87, 0, 0, 0, 0, 0, 0)
        with pytest.raises(ValueError, match='SYS_STATUS was never packed'):
            writer.write_message(status)
        status.pack(mav)
        writer.write_message(status)
        assert writer.count == 2
    messages = list(read_tlog(path))
    assert [m.type for m in messages] == ['HEARTBEAT', 'SYS_STATUS']
    assert messages[0].timestamp_s == 1_700_000_000.25
    assert messages[0].message._timestamp == 1_700_000_000.25
    assert messages[0].message.custom_mode == 0x03040000
    assert messages[1].message.battery_remaining == 87
    assert (messages[0].sysid, messages[0].compid) == (1, 1)
    raw = path.read_bytes()
    assert struct.unpack('>Q', raw[:8])[0] == 1_700_000_000_250_000
    assert raw[8] == 0xFD


def test_writer_rejects_what_is_not_one_packet(tmp_path: Path) -> None:
    packet = _heartbeat(_packer())
    with TlogWriter(tmp_path / 'x.tlog') as writer:
        with pytest.raises(ValueError, match='not a MAVLink packet'):
            writer.write(b'hello world')
        with pytest.raises(ValueError, match='does not match'):
            writer.write(packet + packet)
    with pytest.raises(ValueError, match='closed'):
        writer.write(packet)


def test_writer_copy_of_px4_recording_is_identical_and_pymavlink_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = reference('mission-client.tlog')
    copy = tmp_path / 'copy.tlog'
    with TlogWriter(copy) as writer:
        for item in read_tlog(source):
            writer.write_message(item.message, item.timestamp_s)
    assert copy.read_bytes() == source.read_bytes()
    # MAVExplorer and QGroundControl read .tlog through the same framing as pymavlink's mavutil.
    monkeypatch.setenv('MAVLINK20', '1')
    from pymavlink import mavutil

    connection = mavutil.mavlink_connection(str(copy), dialect='common')
    seen = []
    while (msg := connection.recv_match()) is not None:
        seen.append((msg.get_type(), round(msg._timestamp, 6)))
    connection.close()
    assert seen == [(m.type, round(m.timestamp_s, 6)) for m in read_tlog(source)]


def test_reader_agrees_with_mavutil_on_px4_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    source = reference('mission-autopilot.tlog')
    monkeypatch.setenv('MAVLINK20', '1')
    from pymavlink import mavutil

    connection = mavutil.mavlink_connection(str(source), dialect='development')
    theirs = []
    while (msg := connection.recv_match()) is not None:
        theirs.append(msg.get_type())
    connection.close()
    ours = [m.type for m in read_tlog(source)]
    assert len(ours) == len(theirs) > 40000
    assert ours == theirs


def test_missing_file() -> None:
    with pytest.raises(TlogError, match='no such file'):
        list(read_tlog('/nonexistent/flight.tlog'))


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(TlogError, match='not a regular file'):
        list(read_tlog(tmp_path))


def test_not_a_tlog(tmp_path: Path) -> None:
    path = tmp_path / 'notes.tlog'
    path.write_text('this is a text file, not a telemetry log\n')
    with pytest.raises(TlogError, match=r'byte 0\): expected a MAVLink packet'):
        list(read_tlog(path))


def test_raw_mavlink_without_timestamps(tmp_path: Path) -> None:
    path = tmp_path / 'raw.bin'
    path.write_bytes(_heartbeat(_packer()) * 3)
    with pytest.raises(TlogError, match='not a .tlog'):
        list(read_tlog(path))


def test_truncated_last_record(tmp_path: Path) -> None:
    mav = _packer()
    path = tmp_path / 'cut.tlog'
    with TlogWriter(path) as writer:
        writer.write(_heartbeat(mav), 1.0)
        writer.write(_heartbeat(mav), 2.0)
    path.write_bytes(path.read_bytes()[:-5])
    reader = read_tlog(path)
    assert next(reader).timestamp_s == 1.0
    with pytest.raises(TlogError, match=r'byte 29\): truncated record'):
        next(reader)


def test_bad_crc_strict_and_lenient(tmp_path: Path) -> None:
    mav = _packer()
    path = tmp_path / 'crc.tlog'
    with TlogWriter(path) as writer:
        writer.write(_heartbeat(mav), 1.0)
        writer.write(_heartbeat(mav), 2.0)
        writer.write(_heartbeat(mav), 3.0)
    data = bytearray(path.read_bytes())
    record = len(data) // 3
    data[record + 8 + 12] ^= 0xFF  # a payload byte of the second packet
    path.write_bytes(bytes(data))
    with pytest.raises(TlogError, match=rf'byte {record}\): bad MAVLink packet: .*CRC'):
        list(read_tlog(path))
    assert [m.timestamp_s for m in read_tlog(path, strict=False)] == [1.0, 3.0]


def test_empty_recording_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / 'empty.tlog'
    path.write_bytes(b'')
    assert list(read_tlog(path)) == []
    with pytest.raises(TlogError, match='empty.tlog: the recording holds no MAVLink messages'):
        tlog.summarise_files(path)


def test_recording_without_vehicle(tmp_path: Path) -> None:
    gcs = _packer(245, 190)
    path = tmp_path / 'gcs.tlog'
    with TlogWriter(path) as writer:
        writer.write(_packed(gcs, gcs.heartbeat_encode(6, 8, 0, 0, 0)), 1.0)
    with pytest.raises(TlogError, match='no autopilot HEARTBEAT'):
        tlog.summarise_files(path)


def test_statustext_chunks_are_joined(tmp_path: Path) -> None:
    mav = _packer()
    long_text = 'RTL: start return at 511 m (21 m above destination)'
    path = tmp_path / 'texts.tlog'
    with TlogWriter(path) as writer:
        writer.write(_heartbeat(mav), 1.0)
        writer.write(_statustext(mav, 'Takeoff detected\t', 0, 0), 1.1)
        writer.write(_statustext(mav, long_text[:50], 7, 0), 1.2)
        writer.write(_statustext(mav, long_text[50:] + '\t', 7, 1), 1.3)
        # A text of exactly 50 characters with its (empty) terminating chunk.
        writer.write(_statustext(mav, 'x' * 50, 8, 0), 1.4)
        writer.write(_statustext(mav, '', 8, 1), 1.5)
        # A chunked text whose last chunk was lost: flushed by the next text.
        writer.write(_statustext(mav, 'y' * 50, 9, 0), 1.6)
        writer.write(_statustext(mav, 'Landing detected', 10, 0), 1.7)
    summary = tlog.summarise_files(path)
    assert summary.texts == [
        'Takeoff detected',
        long_text,
        'x' * 50,
        'y' * 50,
        'Landing detected',
    ]
    assert summary.statustexts[1].time_s == pytest.approx(0.3)


def test_summary_of_synthetic_flight(tmp_path: Path) -> None:
    """Modes, arming, landed states, battery and reached items from a hand-made recording."""
    mav = _packer()
    gcs = _packer(245, 190)
    path = tmp_path / 'flight.tlog'
    hold, mission = 0x03040000, 0x04040000
    with TlogWriter(path) as w:
        w.write(_heartbeat(mav, 29, hold), 100.0)
        w.write(_packed(mav, mav.extended_sys_state_encode(0, 1)), 100.1)
        w.write(_packed(gcs, gcs.command_long_encode(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)), 100.2)
        w.write(_packed(mav, mav.command_ack_encode(400, 0, 0, 0, 245, 190)), 100.3)
        w.write(_heartbeat(mav, 157, mission), 101.0)
        w.write(_packed(mav, mav.extended_sys_state_encode(0, 2)), 101.5)
        for t in (101.6, 101.7, 102.6):
            w.write(_packed(mav, mav.mission_item_reached_encode(1)), t)
        w.write(_packed(mav, mav.mission_item_reached_encode(2)), 102.7)
        w.write(_packed(mav, mav.sys_status_encode(0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0, 0)), 102.8)
        w.write(_statustext(mav, 'Low battery', 0, 0), 102.9)
        w.write(_packed(mav, mav.extended_sys_state_encode(0, 2)), 103.0)
        w.write(_packed(mav, mav.extended_sys_state_encode(0, 1)), 104.0)
        w.write(_heartbeat(mav, 29, hold), 105.0)
    summary = summarise(read_tlog(path), speed_factor=2.0)
    assert summary.sysid == 1
    assert summary.mode_sequence == ['AUTO.LOITER', 'AUTO.MISSION', 'AUTO.LOITER']
    assert [(e.time_s, e.value) for e in summary.arming] == [(0, False), (2, True), (10, False)]
    assert summary.armed_windows == [(2.0, 10.0)]
    assert summary.landed_state_sequence == [1, 2, 1]
    assert summary.reached_sequence == [1, 2]
    assert summary.battery_at('Low battery') == 14
    assert summary.battery_at('Critical battery') is None
    ack = summary.command_acks[0]
    assert (ack.command, ack.result) == (400, 0)
    assert ack.request_time_s == pytest.approx(0.4)
    assert ack.time_s == pytest.approx(0.6)
    # Times are in simulated seconds (x2), rates per second of the recording.
    assert summary.duration_s == pytest.approx(10.0)
    assert summary.rates_hz['HEARTBEAT'] == pytest.approx(3 / 5)
    assert summary.armed_counts['MISSION_ITEM_REACHED'] == 4
    assert summary.armed_rates_hz['MISSION_ITEM_REACHED'] == pytest.approx(4 / 4)
    assert 'HEARTBEAT' not in summary.armed_counts or summary.armed_counts['HEARTBEAT'] == 1
    text = summary.format()
    assert 'AUTO.LOITER (0.0 s) -> AUTO.MISSION (2.0 s)' in text
    assert 'Low battery [battery 14%]' in text


def test_text_template() -> None:
    assert tlog.text_template('Climb to 20.0 meters above home') == 'Climb to # meters above home'
    assert tlog.text_template('RTL: start return at 511 m (21 m above destination)') == (
        'RTL: start return at # m (# m above destination)'
    )


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = tlog.main(
        [str(reference('mission-autopilot.tlog')), str(reference('mission-client.tlog'))]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert 'AUTO.LOITER (0.2 s) -> AUTO.MISSION (8.2 s) -> AUTO.RTL (69.2 s)' in out
    assert 'Disarmed by landing' in out


def test_command_line_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = tlog.main([str(tmp_path / 'missing.tlog')])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err == f'error: {tmp_path / "missing.tlog"}: no such file\n'
    assert captured.out == ''
    assert 'Traceback' not in captured.err
    assert os.path.basename('missing.tlog') in captured.err


def test_battery_at_interpolates_between_reports(tmp_path: Path) -> None:
    mav = _packer()
    path = tmp_path / 'battery.tlog'
    with TlogWriter(path) as w:
        w.write(_heartbeat(mav, 157, 0x04040000), 10.0)
        w.write(_packed(mav, mav.sys_status_encode(0, 0, 0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0)), 10.0)
        w.write(_statustext(mav, 'Low battery', 0, 0), 10.5)
        w.write(_statustext(mav, 'Low battery again', 0, 0), 11.0)
        w.write(_packed(mav, mav.sys_status_encode(0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0)), 12.0)
    summary = tlog.summarise_files(path)
    assert summary.statustexts[0].battery_pct == 20  # the last report before the text
    assert summary.battery_at('Low battery') == pytest.approx(17.5)
    assert summary.battery_at('Low battery again') == pytest.approx(15.0)
    assert summary.battery_at('Low') is None  # whole texts only
    assert [(e.time_s, e.value) for e in summary.battery] == [(0.0, 20.0), (2.0, 10.0)]
    assert summary.battery_around('Low battery') == (10.0, 20.0)
    assert summary.battery_around('Low') is None


def test_event_times_follow_the_vehicle_clock(tmp_path: Path) -> None:
    """A simulator that lags behind its speed factor still gives times in its own seconds."""
    mav = _packer()
    path = tmp_path / 'lagging.tlog'
    with TlogWriter(path) as w:
        w.write(_heartbeat(mav), 50.0)
        for second in range(4):  # 5 simulated seconds per recorded second: half of factor 10
            attitude = mav.attitude_encode(1000 + second * 5000, 0, 0, 0, 0, 0, 0)
            w.write(_packed(mav, attitude), 50.0 + second)
        w.write(_statustext(mav, 'Takeoff detected', 0, 0), 52.0)
        w.write(_statustext(mav, 'Landing detected', 0, 0), 53.5)
    summary = summarise(read_tlog(path), speed_factor=10.0)
    assert [s.time_s for s in summary.statustexts] == pytest.approx([10.0, 20.0])
    assert summary.duration_s == pytest.approx(20.0)
    assert summary.rates_hz['ATTITUDE'] == pytest.approx(4 / 3.5)  # per recorded second
