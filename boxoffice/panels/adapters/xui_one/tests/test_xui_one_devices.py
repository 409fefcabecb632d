"""XUI One's MAG / Formuler devices against answers recorded from a real panel: `create_mag`
registers the box and returns its hidden line; a MAC already there is `DeviceTaken`."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from boxoffice.panels.adapters.base import DeviceTaken, PermanentPanelError
from boxoffice.panels.adapters.xui_one.tests.test_xui_one_unit import spec

RECORDED_CREATE_MAG = '{"status":"STATUS_SUCCESS","data":{"mag_id":"1","user_id":"6","bright":"200","contrast":"127","saturation":"127","aspect":null,"video_out":"\'rca\'","volume":"50","playback_buffer_bytes":0,"playback_buffer_size":0,"audio_out":"1","mac":"00:1A:79:12:34:56","ip":null,"ls":null,"ver":"","lang":null,"locale":"\'en_GB.utf8\'","city_id":0,"hd":"1","main_notify":"1","fav_itv_on":0,"now_playing_start":null,"now_playing_type":0,"now_playing_content":null,"time_last_play_tv":null,"time_last_play_video":null,"hd_content":"1","image_version":"","last_change_status":null,"last_start":null,"last_active":null,"keep_alive":null,"playback_limit":"3","screensaver_delay":"10","stb_type":"","sn":"","last_watchdog":null,"created":null,"country":null,"plasma_saving":0,"ts_enabled":0,"ts_enable_icon":"1","ts_path":null,"ts_max_length":"3600","ts_buffer_use":"\'cyclic\'","ts_action_on_exit":"\'no_save\'","ts_delay":"\'on_pause\'","video_clock":"\'Off\'","rtsp_type":"4","rtsp_flags":0,"stb_lang":"\'en\'","display_menu_after_loading":"1","record_max_length":"180","plasma_saving_timeout":"600","now_playing_link_id":null,"now_playing_streamer_id":null,"device_id":"","device_id2":"","hw_version":"","parent_password":"\'0000\'","spdif_mode":"1","show_after_loading":"\'main_menu\'","play_in_preview_by_ok":"1","hdmi_event_reaction":"1","mag_player":"\'ffmpeg\'","play_in_preview_only_by_ok":"\'true\'","watchdog_timeout":null,"fav_channels":null,"tv_archive_continued":null,"tv_channel_default_aspect":"\'fit\'","last_itv_id":0,"units":"\'metric\'","token":null,"lock_device":0,"theme_type":0,"mac_filter":null,"user":{"id":"6","member_id":"1","username":"VCg5J7RDHXe7PkGtHsDUAq9sux2sSBkj","password":"DRPkgKeXRPDQ585FEmDs4nQA6MgXcRu6","last_ip":null,"exp_date":"1798675200","admin_enabled":"1","enabled":"1","admin_notes":null,"reseller_notes":null,"bouquet":"[1]","allowed_outputs":"[1,2]","max_connections":"1","is_restreamer":0,"is_trial":0,"is_mag":"1","is_e2":0,"is_stalker":0,"is_isplock":0,"allowed_ips":"[]","allowed_ua":null,"created_at":"1796136684","pair_id":null,"force_server_id":0,"as_number":null,"isp_desc":"","forced_country":null,"bypass_ua":0,"play_token":null,"last_expiration_video":null,"package_id":null,"access_token":null,"contact":null,"last_activity":null,"last_activity_array":null,"updated":"0000-00-00 00:00:00"},"paired":null}}'


def test_it_registers_a_device_with_create_mag_and_returns_its_hidden_line(adapter, panel):
    panel.on("create_mag", httpx.Response(200, text=RECORDED_CREATE_MAG))
    line = adapter.create_device(
        spec(mac="00-1a-79-12-34-56", expires_at=datetime(2027, 1, 1, tzinfo=UTC))
    )
    assert line.panel_line_id == "6"  # the line's id (data.user), not the device's mag_id
    assert line.max_connections == 1 and line.outputs == ("m3u8", "ts")
    form = dict(panel.form("create_mag"))
    assert form["mac"] == "00:1A:79:12:34:56"
    assert form["bouquets_selected"].startswith("[") and form["exp_date"].startswith("@")
    assert "admin_notes" in form


def test_it_reports_a_mac_already_on_the_panel_as_device_taken(adapter, panel):
    panel.on(
        "create_mag",
        httpx.Response(
            200,
            text='{"status":"STATUS_EXISTS_MAC","data":{"mac":"00:1A:79:12:34:56",'
            '"bouquets_selected":"[1]"}}',
        ),
    )
    with pytest.raises(DeviceTaken):
        adapter.create_device(spec(mac="00:1A:79:12:34:56"))


def test_it_refuses_a_malformed_mac_without_calling_the_panel(adapter, panel):
    with pytest.raises(PermanentPanelError):
        adapter.create_device(spec(mac="zz"))
    assert panel.requests == []
