"""The live tests' lab: a private Asterisk 22 tree with the project's rendered configuration,
the controller (``hotline12345 serve``) as a subprocess, and the helpers that make calls.

Everything goes through the product's own commands, as an engineer would run them:
``asterisk-conf render``, ``prompts build``, ``serve``; the host files are minimal and end
with the README's ``#include`` lines.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from tests.live.ami import Ami, AmiMessage

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BUNDLE_ENV = "HOTLINE12345_ASTERISK_BUNDLE"  # the directory holding install.sh
PREFIX_ENV = "HOTLINE12345_ASTERISK"  # where install.sh puts Asterisk
HOW_TO_GET = (f"put shared/asterisk-22 (the Asterisk 22.10.1 bundle and its install.sh) beside "
              f"the clone, or set {BUNDLE_ENV} to its directory")
CORE_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
AMI_USER = "hotline12345"
AMI_SECRET = "live-ami-secret"
TEST_AMI_USER = "live"
TEST_AMI_SECRET = "live-test-secret"
ADMIN_PASSWORD = "live-admin-password"
CONTROLLER_HOSTS = ("127.0.0.1", "127.0.0.2")  # the dialplan tries them in this order
TELECOM_IP = "127.0.0.3"  # the telecom trunk's match= address: SIPp sends from it
LINKAGE_RING_S = 15  # asterisk-conf render --linkage-ring (default 60)
SUB_CENTRE_RING_S = 10  # --sub-centre-ring (default 30)
UNICOM_IP = "127.0.0.4"  # the unicom registrar (a SIPp answering REGISTER)


class BundleMissing(Exception):
    """The Asterisk bundle cannot be installed on this machine (the reason, one line)."""


def bundle_dir() -> Path:
    return Path(os.environ.get(BUNDLE_ENV) or REPO.parent / "shared" / "asterisk-22")


def install_bundle() -> Path:
    """Runs the bundle's idempotent ``install.sh``; returns the prefix it prints."""
    script = bundle_dir() / "install.sh"
    if not script.is_file():
        raise BundleMissing(f"no Asterisk 22 bundle at {script.parent}: {HOW_TO_GET}")
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BundleMissing(f"{script} failed: {last}; run `bash {script}` once as root")
    prefix = Path(done.stdout.strip().splitlines()[-1])
    if not (prefix / "sbin" / "asterisk").is_file():
        raise BundleMissing(f"{script} printed {prefix}, which holds no sbin/asterisk")
    if shutil.which("sipp") is None:
        raise BundleMissing(f"{script} ran but sipp is not on the PATH")
    return prefix


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def hotline(*args: str, env: Mapping[str, str] | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
    """The product's CLI as a subprocess (the one in this interpreter's environment)."""
    done = subprocess.run([sys.executable, "-m", "hotline12345.cli", *args],
                          capture_output=True, text=True, env=dict(env or os.environ),
                          timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"hotline12345 {' '.join(args)} exited {done.returncode}:\n"
                             f"{done.stderr}")
    return done


@dataclass
class Lab:
    """The private tree: ``etc`` (host files + rendered files), ``data`` (documentation,
    sounds with the built prompts), and the run-time directories; the free ports."""

    root: Path
    prefix: Path
    ami_port: int = field(default_factory=free_port)
    agi_port: int = 0
    sip_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM))
    telecom_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM, TELECOM_IP))
    unicom_port: int = field(default_factory=lambda: free_port(socket.SOCK_DGRAM, UNICOM_IP))

    def __post_init__(self) -> None:
        if not self.agi_port:  # one port free on both controller addresses
            for _ in range(50):
                port = free_port()
                try:
                    with socket.socket() as s:
                        s.bind((CONTROLLER_HOSTS[1], port))
                except OSError:
                    continue
                self.agi_port = port
                break

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def site(self) -> Path:
        return self.root / "site.yaml"

    @property
    def recordings(self) -> Path:
        return self.root / "spool" / "monitor" / "hotline12345"

    @property
    def log(self) -> Path:
        return self.root / "log" / "messages.log"

    @property
    def asterisk_conf(self) -> Path:
        return self.etc / "asterisk.conf"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "HOTLINE12345_AMI_SECRET": AMI_SECRET,
            "HOTLINE12345_TRUNK_UNICOM_PASSWORD": "live-unicom-password",
            "HOTLINE12345_RECORDINGS_DIR": str(self.recordings),
            "HOTLINE12345_CONFIG": str(self.site),
        })
        return env

    def build(self) -> None:
        """Lays out the tree, renders the site's configuration and builds its prompts with
        the product's CLI, then writes the minimal host files that #include them."""
        for sub in ("etc", "varlib", "db", "keys/keys", "spool", "run", "log", "agi-bin",
                    "data/sounds", "moh"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(parents=True, exist_ok=True)
        shared = self.prefix / "var" / "lib" / "asterisk"
        for name in ("documentation", "static-http", "rest-api"):
            (self.root / "data" / name).symlink_to(shared / name)
        sounds = self.root / "data" / "sounds"
        (sounds / "en").symlink_to(CORE_SOUNDS)
        (self.root / "data" / "moh").symlink_to(self.root / "moh")
        self.site.write_text(Template((HERE / "site.yaml.in").read_text("utf-8")).substitute(
            telecom_port=self.telecom_port, unicom_port=self.unicom_port), "utf-8")
        render = ["asterisk-conf", "render", "--config", str(self.site), "--out", str(self.etc),
                  "--agi-port", str(self.agi_port), "--ami-port", str(self.ami_port),
                  "--recordings-dir", str(self.recordings),
                  # short ring times: the scenarios that wait one out (a linkage target or a
                  # sub-centre that never answers) take seconds, not a minute
                  "--linkage-ring", str(LINKAGE_RING_S), "--sub-centre-ring",
                  str(SUB_CENTRE_RING_S)]
        for host in CONTROLLER_HOSTS:
            render += ["--agi-host", host]
        hotline(*render, env=self.env())
        hotline("prompts", "build", "--config", str(self.site), "--out",
                str(sounds / "hotline12345"), env=self.env())
        # hold music: one of the core sounds, so that MOH has a file to play
        shutil.copy(CORE_SOUNDS / "beep.wav", self.root / "moh" / "beep.wav")
        self._write_host_files()

    def _write_host_files(self) -> None:
        r = self.root
        files = {
            "asterisk.conf": f"""[directories]
astetcdir => {self.etc}
astmoddir => {self.prefix}/lib/asterisk/modules
astvarlibdir => {r}/varlib
astdbdir => {r}/db
astkeydir => {r}/keys
astdatadir => {r}/data
astagidir => {r}/agi-bin
astspooldir => {r}/spool
astrundir => {r}/run
astlogdir => {r}/log
astsbindir => {self.prefix}/sbin

[options]
verbose = 0
debug = 0
nocolor = yes
defaultlanguage = en
transmit_silence = yes
""",
            "modules.conf": MODULES_CONF,
            "logger.conf": """[general]
dateformat = %F %T.%3q
[logfiles]
messages.log => notice,warning,error
""",
            "musiconhold.conf": f"""[default]
mode = files
directory = {r}/moh
""",
            "extensions.conf": HOST_EXTENSIONS + "#include extensions_hotline12345.conf\n",
            # what docs/deploying.md asks of the host's [general] (Asterisk's default is no)
            "queues.conf": "[general]\npersistentmembers = yes\nshared_lastcall = yes\n\n"
                           "#include queues_hotline12345.conf\n",
            "manager.conf": f"""[general]
enabled = yes
port = {self.ami_port}
bindaddr = 127.0.0.1

; the tests' own AMI user (the product's comes from the include below)
[{TEST_AMI_USER}]
secret = {TEST_AMI_SECRET}
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
read = all
write = all

#include manager_hotline12345.conf
""",
            "pjsip.conf": "; host pjsip.conf: no transport of its own\n"
                          "#include pjsip_hotline12345.conf\n",
            # The site-managed file the rendered pjsip file #tryincludes: here it moves the
            # rendered transport off the machine's 5060 (see docs/live-tests.md).
            "pjsip_hotline12345_local.conf": f"""[hotline12345-udp](+)
bind = 0.0.0.0:{self.sip_port}
""",
            "confbridge.conf": "; host confbridge.conf\n#include confbridge_hotline12345.conf\n",
            "features.conf": "[general]\n",
            "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 29999\n",
            "indications.conf": "[general]\ncountry = cn\n\n[cn]\ndescription = China\n"
                                "ringcadence = 1000,4000\ndial = 450\nbusy = 450/350,0/350\n"
                                "ring = 450/1000,0/4000\ncongestion = 450/700,0/700\n"
                                "callwaiting = 450/400,0/4000\n",
        }
        for name in ("ccss.conf", "cdr.conf", "cel.conf", "acl.conf", "udptl.conf",
                     "pjproject.conf"):
            files.setdefault(name, "; empty: defaults\n")
        for name, text in files.items():
            (self.etc / name).write_text(text, "utf-8")


#: What the tests do not need, so that Asterisk starts fast and quiet.
MODULES_CONF = """[modules]
autoload = yes
noload = chan_iax2.so
noload = chan_unistim.so
noload = chan_skinny.so
noload = chan_mgcp.so
noload = chan_motif.so
noload = chan_console.so
noload = chan_audiosocket.so
noload = chan_rtp.so
noload = res_xmpp.so
noload = res_calendar.so
noload = res_calendar_caldav.so
noload = res_calendar_ews.so
noload = res_calendar_exchange.so
noload = res_calendar_icalendar.so
noload = res_phoneprov.so
noload = res_pjsip_phoneprov_provider.so
noload = res_hep.so
noload = res_hep_pjsip.so
noload = res_hep_rtcp.so
noload = pbx_dundi.so
noload = pbx_ael.so
noload = pbx_lua.so
noload = res_config_ldap.so
noload = res_config_pgsql.so
noload = res_config_sqlite3.so
noload = res_smdi.so
noload = res_snmp.so
noload = res_statsd.so
noload = res_fax.so
noload = res_fax_spandsp.so
noload = app_voicemail.so
noload = app_minivm.so
noload = cdr_custom.so
noload = cdr_manager.so
noload = cdr_sqlite3_custom.so
noload = cdr_pgsql.so
noload = cdr_csv.so
noload = cdr_syslog.so
noload = cdr_adaptive_odbc.so
noload = cdr_odbc.so
noload = cel_custom.so
noload = cel_manager.so
noload = cel_sqlite3_custom.so
noload = cel_pgsql.so
noload = cel_odbc.so
noload = res_odbc.so
noload = res_odbc_transaction.so
noload = func_odbc.so
noload = res_ari_mailboxes.so
noload = res_pjsip_notify.so
noload = res_prometheus.so
noload = res_stir_shaken.so
noload = res_geolocation.so
noload = res_pjsip_geolocation.so
noload = res_pjsip_stir_shaken.so
noload = res_aeap.so
noload = res_speech_aeap.so
noload = app_festival.so
noload = app_alarmreceiver.so
noload = app_sms.so
noload = app_adsiprog.so
noload = app_getcpeid.so
noload = res_adsi.so
noload = res_monitor.so
noload = res_config_curl.so
noload = res_http_media_cache.so
noload = app_amd.so
noload = res_pjsip_config_wizard.so
noload = res_corosync.so
noload = res_mwi_external.so
noload = res_mwi_external_ami.so
noload = res_mwi_devstate.so
noload = res_pjsip_rfc3326.so
noload = res_pjsip_messaging.so
noload = res_pjsip_send_to_voicemail.so
noload = res_pjsip_t38.so
noload = res_pjsip_phoneprov_provider.so
noload = res_pjsip_history.so
noload = res_pjsip_empty_info.so
noload = res_stasis_test.so
noload = res_ari.so
noload = app_stasis.so
noload = res_parking.so
noload = app_agent_pool.so
noload = app_followme.so
noload = res_stun_monitor.so
noload = res_websocket_client.so
noload = chan_websocket.so
noload = res_stasis_broadcast.so
noload = app_stasis_broadcast.so
noload = res_ari_bridges.so
noload = res_ari_device_states.so
noload = res_ari_events.so
noload = res_ari_applications.so
noload = res_ari_channels.so
noload = res_ari_sounds.so
noload = res_ari_recordings.so
noload = res_ari_playbacks.so
noload = res_ari_endpoints.so
noload = res_ari_asterisk.so
noload = res_clialiases.so
"""

#: The host's own dialplan: the test parties, then the README's include as the last line.
#: live-seats: seats (queue members); live-centres: sub-centres; live-targets: linkage
#: targets; live-callers: the caller's phone (the ;1 half of the Originate); live-callees: the
#: caller's phone when a 回访 calls it back (centre.callback_dial of the test site).
HOST_EXTENSIONS = """[general]
static = yes
writeprotect = no

[globals]

; Seats: answer and stay until the test hangs them up; a seat the test redirects to
; "speak" says its words (recordings).
[live-seats]
exten => _XXXX,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
exten => busy,1,Busy(5)
exten => speak,1,Playback(live/seat-speech)
 same => n,Wait(600)
 same => n,Hangup()

; Sub-centres: answer and stay; "silent" rings and never answers.
[live-centres]
exten => _X.,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
exten => silent,1,Ringing()
 same => n,Wait(600)
 same => n,Hangup()

; Linkage targets: answer and stay; "silent" rings and never answers.
[live-targets]
exten => _X.,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()
exten => silent,1,Ringing()
 same => n,Wait(600)
 same => n,Hangup()

; The caller's phone: waits (the test sends DTMF with PlayDTMF and hangs up), or speaks.
[live-callees]
exten => _X.,1,Answer()
 same => n,Wait(600)
 same => n,Hangup()

[live-callers]
exten => wait,1,Wait(600)
 same => n,Hangup()
exten => speak,1,Playback(live/caller-speech)
 same => n,Wait(600)
 same => n,Hangup()

"""


class Asterisk:
    """Asterisk in the foreground (``-f -n``), its output in the lab's log directory."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.proc: subprocess.Popen[bytes] | None = None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = str(self.lab.prefix / "lib")
        return env

    def start(self, timeout: float = 60.0) -> None:
        out = open(self.lab.root / "log" / "console.out", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(self.lab.prefix / "sbin" / "asterisk"), "-C", str(self.lab.asterisk_conf),
             "-f", "-n", "-g"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self._env(),
            start_new_session=True)
        out.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"Asterisk exited {self.proc.returncode} at start-up; "
                                     f"see {self.lab.root / 'log'}")
            done = self.rx("core waitfullybooted", timeout=10, check=False)
            if done.returncode == 0 and "fully booted" in done.stdout:
                return
            time.sleep(0.2)  # polling for the control socket to appear, not a result wait
        os.killpg(self.proc.pid, signal.SIGKILL)  # never leave it behind
        self.proc.wait(10)
        raise AssertionError(f"Asterisk not fully booted within {timeout:.0f} s")

    def rx(self, command: str, timeout: float = 20.0,
           check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.lab.prefix / "sbin" / "asterisk"), "-C", str(self.lab.asterisk_conf),
             "-rx", command], capture_output=True, text=True, env=self._env(), timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"asterisk -rx {command!r}: {done.stderr or done.stdout}")
        return done

    def stop(self) -> None:
        """``core stop now``, then waits for the process; kills it if it will not go."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        try:
            self.rx("core stop now", timeout=10, check=False)
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        self.proc = None


class Controller:
    """``hotline12345 serve`` with the lab's site, on one of the controller addresses."""

    def __init__(self, lab: Lab, host: str = CONTROLLER_HOSTS[0], name: str = "c1",
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.lab = lab
        self.host = host
        self.name = name
        self.data_dir = lab.root / f"data-{name}"
        self.http_port = free_port()
        self.extra_env = dict(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = lab.root / "log" / f"controller-{name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self, *, ami: bool = True, timeout: float = 60.0) -> None:
        env = self.lab.env()
        env.update({"HOTLINE12345_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "HOTLINE12345_LOG_LEVEL": "INFO"})
        if ami:
            env.update({"HOTLINE12345_AMI_HOST": "127.0.0.1",
                        "HOTLINE12345_AMI_PORT": str(self.lab.ami_port),
                        "HOTLINE12345_AMI_USER": AMI_USER})
        else:
            for name in ("HOTLINE12345_AMI_HOST", "HOTLINE12345_AMI_USER",
                         "HOTLINE12345_AMI_SECRET"):
                env.pop(name, None)
        env.update(self.extra_env)
        out = open(self.log, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline12345.cli", "serve", "--config", str(self.lab.site),
             "--agi-host", self.host, "--agi-port", str(self.lab.agi_port),
             "--agi-allow", "127.0.0.1", "--data-dir", str(self.data_dir),
             "--http-host", "127.0.0.1", "--http-port", str(self.http_port)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
        out.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"controller {self.name} exited {self.proc.returncode}; "
                                     f"see {self.log}")
            if self.ready(ami):
                return
            time.sleep(0.1)  # polling the controller's start-up, not a result wait
        self.kill()  # never leave it behind
        raise AssertionError(f"controller {self.name} not ready within {timeout:.0f} s; "
                             f"see {self.log}")

    def ready(self, ami: bool) -> bool:
        try:
            with socket.create_connection((self.host, self.lab.agi_port), timeout=1):
                pass
            health = self.health()
            return bool(health.get("ami_connected")) if ami else health.get("status") == "ok"
        except (OSError, ValueError):
            return False

    def health(self) -> dict[str, object]:
        """``/health`` (anonymous: no login that a start-up race could count as failed)."""
        with urllib.request.urlopen(self.url + "/health", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def state(self) -> dict[str, object]:
        return self.api("GET", "/api/state")

    def api(self, method: str, path: str, body: object = None) -> dict[str, object]:
        import base64

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"{}")  # type: ignore[no-any-return]
        except urllib.error.HTTPError as exc:
            return {"http_status": exc.code, **json.loads(exc.read() or b"{}")}

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: the controller dies at once, mid-call, as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@dataclass
class Call:
    """One caller: ``chan`` is the dialplan's side (;2, the incoming call), ``phone`` the
    caller's phone (;1). Both uniqueids are chosen by the test."""

    dialled: str
    trunk: str
    uniqueid: str
    phone_id: str
    caller: str

    def is_mine(self, e: AmiMessage) -> bool:
        return e.get("Uniqueid") == self.uniqueid

    def is_phone(self, e: AmiMessage) -> bool:
        return e.get("Uniqueid") == self.phone_id


class Phones:
    """Callers as AMI ``Originate`` of ``Local/<dialled>@hotline12345-from-<trunk>/n``."""

    def __init__(self, ami: Ami) -> None:
        self.ami = ami

    def call(self, dialled: str, *, trunk: str = "telecom", caller: str = "13800138000",
             caller_name: str = "", then: str = "wait") -> Call:
        uid = f"live-{uuid.uuid4().hex[:12]}"
        call = Call(dialled, trunk, uid + "-in", uid + "-ph", caller)
        cid = f'"{caller_name}" <{caller}>' if caller_name else f"<{caller}>"
        self.ami.action("Originate", Channel=f"Local/{dialled}@hotline12345-from-{trunk}/n",
                        Context="live-callers", Exten=then, Priority="1", CallerID=cid,
                        Async="true", ChannelId=call.phone_id, OtherChannelId=call.uniqueid,
                        Timeout="60000")
        return call

    def channel_of(self, uniqueid: str, since: int = 0, timeout: float = 20.0) -> str:
        e = self.ami.wait(lambda e: e.name == "Newchannel" and e.get("Uniqueid") == uniqueid,
                          since=since, timeout=timeout, what=f"channel {uniqueid}")
        return e.get("Channel")

    def hangup(self, call: Call) -> None:
        for uid in (call.phone_id, call.uniqueid):
            def created(e: AmiMessage, u: str = uid) -> bool:
                return e.name == "Newchannel" and e.get("Uniqueid") == u

            for e in self.ami.find(created):
                self.ami.action("Hangup", Channel=e.get("Channel"), check=False)

    def hangup_phone(self, call: Call) -> None:
        """The caller hangs up (the phone's half, ;1)."""
        self.ami.action("Hangup", Channel=self.channel_of(call.phone_id))

    def dtmf(self, call: Call, digit: str) -> None:
        """The caller presses ``digit``: DTMF sent by the caller's phone (;1) into the call."""
        chan = self.channel_of(call.phone_id)
        self.ami.action("PlayDTMF", Channel=chan, Digit=digit, Duration="120")


def agi_commands(ami: Ami, uniqueid: str, since: int = 0) -> list[str]:
    return [e.get("Command") for e in ami.find(
        lambda e: e.name == "AGIExecStart" and e.get("Uniqueid") == uniqueid, since=since)]


def var_sets(ami: Ami, uniqueid: str, since: int = 0) -> dict[str, str]:
    """The variables the controller set on the channel: each one's first value from the
    first AGI command of the call on (the dialplan may change them later: overflow)."""
    out: dict[str, str] = {}
    started = False
    for e in ami.find(lambda e: e.get("Uniqueid") == uniqueid, since=since):
        if e.name == "AGIExecStart":
            started = True
        elif started and e.name == "VarSet":
            out.setdefault(e.get("Variable"), e.get("Value"))
    return out


def eventually(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition",
               interval: float = 0.1) -> None:
    """Polls ``cond`` until it holds (a state reached, never a duration measured)."""
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def iter_log(path: Path) -> Iterator[str]:
    if path.exists():
        yield from path.read_text("utf-8", "replace").splitlines()
