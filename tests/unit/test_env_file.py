"""systemd's EnvironmentFile format as setup-pgbouncer reads it
(soar.db.pgbouncer_setup.parse_env_text): what systemd itself gives a service (its
env-file.c rules), or a one-line refusal naming the line where systemd would silently
drop one."""

from __future__ import annotations

import pytest

from soar.db.pgbouncer_setup import parse_env_text, read_env_file
from soar.errors import SoarError


@pytest.mark.parametrize("text, expected", [
    ("A=1\n", {"A": "1"}),
    # the bug: an unquoted value with spaces is kept whole (shlex kept its first word)
    ("SOAR_RUN_ARGS=--ogn host:10152 --beast 10.0.0.5:30005\n",
     {"SOAR_RUN_ARGS": "--ogn host:10152 --beast 10.0.0.5:30005"}),
    ("  KEY  =   value with  inner  spaces   \n", {"KEY": "value with  inner  spaces"}),
    ('A="x y"z\n', {"A": "x yz"}),                                  # parts join
    ("A='$HOME \\n'\n", {"A": "$HOME \\n"}),                          # single quotes: literal
    ('A="a\\"b\\\\c\\$d\\`e\\nf"\n', {"A": 'a"b\\c$d`e\\nf'}),        # double: \\ \" \$ \` only
    ("A=one\\\n   two\n", {"A": "one   two"}),                       # trailing \ continues
    ('A="line one\nline two"\n', {"A": "line one\nline two"}),      # quotes span lines
    ('A="one\\\ntwo"\n', {"A": "onetwo"}),                          # escaped newline eaten
    ("A=a\\ \n", {"A": "a "}),                                      # escaped space kept
    ("# comment\n; also\n\nA=1\r\nB=2", {"A": "1", "B": "2"}),       # CRLF, no final newline
    ("A=\nB=   \n", {"A": "", "B": ""}),
    ("A=1\nA=2\n", {"A": "2"}),                                      # the later one wins
    ("URL=postgresql://u:p%40ss@h:5432/db?sslmode=require\n",
     {"URL": "postgresql://u:p%40ss@h:5432/db?sslmode=require"}),
])
def test_values_read_as_systemd_reads_them(text, expected):
    assert parse_env_text(text) == expected


@pytest.mark.parametrize("text, line, says", [
    ("A=1\njust words\n", 2, "not KEY=VALUE"),
    ("A=1\nB=2\nlast", 3, "not KEY=VALUE"),
    ("1A=x\n", 1, "not a variable name"),
    ("MY-KEY=x\n", 1, "not a variable name"),
    ('A=1\nB="open\n\n', 2, "never closed"),
    ("A='open\n", 1, "never closed"),
    ("# a comment \\\nA=1\n", 1, "remove the backslash"),
])
def test_a_line_systemd_would_drop_is_refused_with_its_line(text, line, says):
    with pytest.raises(SoarError) as err:
        parse_env_text(text, "/etc/soar/env")
    message = str(err.value)
    assert message.startswith(f"/etc/soar/env:{line}: ") and says in message
    assert "\n" not in message


def test_read_env_file_names_a_missing_file(tmp_path):
    with pytest.raises(SoarError) as err:
        read_env_file(tmp_path / "env")
    assert "not found" in str(err.value)
    (tmp_path / "env").write_text("SOAR_DATABASE_URL='postgresql://soar@db/soar'\n")
    assert read_env_file(tmp_path / "env") == {"SOAR_DATABASE_URL": "postgresql://soar@db/soar"}
