# ruff: noqa: E501 - the sample lines are verbatim tcpdump output
"""The lab's evidence checks on tcpdump lines (pyvs.lab.evidence); pure, no root."""

from __future__ import annotations

from pyvs.lab.evidence import (
    Endpoint,
    check_direct_replies,
    check_encapsulated_twins,
    check_no_vip_source,
    check_page,
    parse_line,
    parse_lines,
)

# Printed by tcpdump 4.99 (`tcpdump -n -S -r`) for frames made with scapy.
DIRECTOR_LINK = """\
19:14:57.630079 IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [S], seq 1000, win 8192, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
19:14:57.652840 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [S], seq 1000, win 8192, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0
19:14:57.677332 IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [.], ack 5001, win 8192, length 0
19:14:57.701176 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [.], ack 5001, win 8192, length 0
19:14:57.725123 IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [P.], seq 1001:1035, ack 5001, win 8192, length 34: HTTP: GET / HTTP/1.1
19:14:57.750194 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [P.], seq 1001:1035, ack 5001, win 8192, length 34: HTTP: GET / HTTP/1.1
19:14:57.773116 IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [F.], seq 1035, ack 5030, win 8192, length 0
19:14:57.797377 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [F.], seq 1035, ack 5030, win 8192, length 0
19:14:57.869212 ARP, Request who-has 10.2.2.3 tell 10.2.2.254, length 28
""".splitlines()

REAL_LINK = """\
19:14:57.652900 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.80: Flags [S], seq 1000, win 8192, length 0
19:14:57.820826 IP 10.2.2.3.80 > 10.1.1.1.58749: Flags [S.], seq 5000, ack 1001, win 8192, length 0
19:14:57.844884 IP 10.2.2.3.80 > 10.1.1.1.58749: Flags [P.], seq 5001:5029, ack 1035, win 8192, length 28: HTTP: HTTP/1.1 200 OK
19:14:57.845000 IP 10.2.2.3.80 > 10.1.1.1.58749: Flags [F.], seq 5029, ack 1035, win 8192, length 0
""".splitlines()

# As the seed document's (older) tcpdump printed them: port names, "(ipip-proto-4)".
SEED_STYLE = [
    "10:01:02.123456 IP 10.1.1.1.58749 > 10.2.2.3.http: Flags [S], seq 1, win 5840, length 0",
    "10:01:02.123500 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1.58749 > 10.2.2.3.http: Flags [S], seq 1, "
    "win 5840, length 0 (ipip-proto-4)",
]

TWINS = {"client": "10.1.1.1", "vip": "10.2.2.3", "port": 80, "director": "10.2.2.2", "reals": ["10.3.3.3"]}


def test_parse_plain_tcp_line() -> None:
    packet = parse_line(DIRECTOR_LINK[0])
    assert packet is not None
    assert packet.src == Endpoint("10.1.1.1", 58749)
    assert packet.dst == Endpoint("10.2.2.3", 80)
    assert packet.outer is None
    assert packet.flags == "S"
    assert packet.length == 0


def test_parse_ipip_line() -> None:
    packet = parse_line(DIRECTOR_LINK[5])
    assert packet is not None
    assert packet.outer == ("10.2.2.2", "10.3.3.3")
    assert packet.src == Endpoint("10.1.1.1", 58749)
    assert packet.flags == "P."
    assert packet.length == 34


def test_parse_seed_style_lines() -> None:
    plain, encapsulated = parse_lines(SEED_STYLE)
    assert plain.dst == Endpoint("10.2.2.3", 80)
    assert encapsulated.outer == ("10.2.2.2", "10.3.3.3")
    assert not encapsulated.detail.endswith("(ipip-proto-4)")
    assert plain.twin_key() == encapsulated.twin_key()


def test_non_ipv4_lines_are_ignored() -> None:
    assert parse_line(DIRECTOR_LINK[-1]) is None
    assert parse_line("19:13:15.491341 IP6 :: > ff02::1:ff55:6b37: ICMP6, neighbor solicitation, length 32") is None
    assert parse_line("reading from file x.pcap, link-type EN10MB (Ethernet)") is None
    assert parse_line("") is None


def test_icmp_has_no_ports() -> None:
    packet = parse_line("19:13:17.689285 IP 10.2.2.2 > 10.3.3.3: IP 10.1.1.1 > 10.2.2.3: ICMP echo request, "
                        "id 0, seq 0, length 8")
    assert packet is not None
    assert packet.src == Endpoint("10.1.1.1") and packet.outer == ("10.2.2.2", "10.3.3.3")


def test_every_client_packet_has_a_twin() -> None:
    check = check_encapsulated_twins(parse_lines(DIRECTOR_LINK), **TWINS)  # type: ignore[arg-type]
    assert check.passed, check.detail
    assert "4 client packets" in check.detail


def test_a_twin_must_match_to_the_sequence_number() -> None:
    plain, twin = parse_lines(DIRECTOR_LINK[2:4])
    assert plain.twin_key() == twin.twin_key()
    [altered] = parse_lines([DIRECTOR_LINK[3].replace("ack 5001", "ack 5002")])
    assert altered.twin_key() != plain.twin_key()


def test_missing_twin_fails() -> None:
    lines = [line for i, line in enumerate(DIRECTOR_LINK) if i != 5]  # drop the encapsulated request
    check = check_encapsulated_twins(parse_lines(lines), **TWINS)  # type: ignore[arg-type]
    assert not check.passed
    assert "1 of 4 without an IPIP twin" in check.detail


def test_twin_to_an_unknown_real_fails() -> None:
    lines = [line.replace("10.2.2.2 > 10.3.3.3", "10.2.2.2 > 10.3.3.9") for line in DIRECTOR_LINK]
    assert not check_encapsulated_twins(parse_lines(lines), **TWINS).passed  # type: ignore[arg-type]


def test_no_client_packet_fails() -> None:
    check = check_encapsulated_twins(parse_lines(DIRECTOR_LINK[-1:]), **TWINS)  # type: ignore[arg-type]
    assert not check.passed and "no packet" in check.detail


def test_direct_replies_pass() -> None:
    check = check_direct_replies(parse_lines(REAL_LINK), client="10.1.1.1", vip="10.2.2.3", port=80,
                                 client_ports=[58749])
    assert check.passed, check.detail


def test_direct_replies_need_the_syn_ack() -> None:
    lines = [line for line in REAL_LINK if "[S.]" not in line]
    check = check_direct_replies(parse_lines(lines), client="10.1.1.1", vip="10.2.2.3", port=80,
                                 client_ports=[58749])
    assert not check.passed and "SYN-ACK" in check.detail


def test_direct_replies_of_another_connection_do_not_count() -> None:
    check = check_direct_replies(parse_lines(REAL_LINK), client="10.1.1.1", vip="10.2.2.3", port=80,
                                 client_ports=[40000])
    assert not check.passed


def test_no_vip_source_on_director_link() -> None:
    assert check_no_vip_source(parse_lines(DIRECTOR_LINK), vip="10.2.2.3").passed
    leaked = parse_lines(DIRECTOR_LINK + REAL_LINK[1:2])
    check = check_no_vip_source(leaked, vip="10.2.2.3")
    assert not check.passed and "10.2.2.3.80 > 10.1.1.1.58749" in check.detail


def test_page_check() -> None:
    assert check_page(0, "served by 10.3.3.3\n", "served by ").passed
    assert not check_page(28, "", "served by ").passed
    assert not check_page(0, "<html>nothing</html>", "served by ").passed
    assert check_page(0, "served by 10.3.3.3\n", "served by ").line().startswith("PASS (d)")
