"""The web tier's nginx configuration (deploy/nginx-site.conf), rendered for one deployment.

    python -m deploy.nginx --server-name track.example.com --static-root /srv/tracker/staticfiles \\
        --certificate /etc/ssl/track.example.com.pem --certificate-key /etc/ssl/track.example.com.key \\
        > /etc/nginx/sites-available/s2s-tracker

`write_standalone` puts the same site into a complete nginx.conf that nginx runs from a directory
of its own (`command`: nginx -p DIR -c DIR/nginx.conf), with its pid file and temporary files
there and nothing under /etc, /run or /var: the fault suite and the tests run the web tier behind it.
"""

import argparse
import os
import re
import resource
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from django.template import Context, Engine

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx-site.conf")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"  # /usr/sbin is not on every account's PATH
MIME_TYPES = Path("/etc/nginx/mime.types")  # Debian's nginx-common
# A value lands as one nginx word: whitespace, quotes, ";", braces, "$" or "#" would let it
# change the configuration around it.
WORD = re.compile(r"[^\s;{}'\"$#\\]+")


@dataclass
class Site:
    server_names: list[str] = field(default_factory=lambda: ["_"])
    # gunicorn's --bind on each web node; a Unix socket is unix:/path/web.sock.
    upstreams: list[str] = field(default_factory=lambda: ["127.0.0.1:8000"])
    static_root: str = str(ROOT / "staticfiles")
    http_listen: list[str] = field(default_factory=lambda: ["80", "[::]:80"])
    https_listen: list[str] = field(default_factory=lambda: ["443", "[::]:443"])
    # Without a certificate nginx answers http only, and redirects nothing.
    certificate: str = ""
    certificate_key: str = ""
    # Addresses (or CIDRs) of a load balancer in front of nginx, whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = field(default_factory=list)
    access_log: str = "/var/log/nginx/s2s-tracker.access.log"


def render(site: Site) -> str:
    values = {
        "server_names": site.server_names,
        "upstreams": site.upstreams,
        "static_root": site.static_root.rstrip("/"),
        "http_listen": site.http_listen,
        "https_listen": site.https_listen,
        "certificate": site.certificate,
        "certificate_key": site.certificate_key,
        "trusted_proxies": site.trusted_proxies,
        "access_log": site.access_log,
    }
    for name, value in values.items():
        for word in value if isinstance(value, list) else [value]:
            if word and not WORD.fullmatch(word):
                raise ValueError(f"{name}: {word!r} is not a single nginx word")
    if not site.server_names or not site.http_listen or not site.upstreams:
        raise ValueError("at least one server name, one http address and one upstream are needed")
    if bool(site.certificate) != bool(site.certificate_key):
        raise ValueError("a certificate needs its key, and a key its certificate")
    values["server_names"] = " ".join(site.server_names)
    template = Engine(autoescape=False).from_string(TEMPLATE.read_text())
    return template.render(Context(values, autoescape=False))


def write_standalone(site: Site, directory: Path, *, error_log: Path) -> Path:
    """Write DIR/site.conf and the DIR/nginx.conf that includes it; returns the latter's path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "site.conf").write_text(render(site))
    temporary = {}
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        temporary[kind] = directory / "temp" / kind
        temporary[kind].mkdir(parents=True, exist_ok=True)
    # Run by root, nginx would hand its workers to "nobody", who may reach neither these files
    # nor the checkout's static files; by anyone else, nginx keeps the account it was started by.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    # Every slow client holds a file descriptor: as many as the account may open, up to 8192.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    files = 8192 if hard == resource.RLIM_INFINITY else min(8192, hard)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"# The site of deploy/nginx-site.conf in an nginx of its own (deploy/nginx.py).\n"
        f"daemon off;\n"
        f"{user}"
        f"worker_processes 1;\n"
        f"worker_rlimit_nofile {files};\n"
        f"pid {directory}/nginx.pid;\n"
        f"error_log {error_log} warn;\n"
        f"events {{ worker_connections {files // 2}; }}\n"
        f"http {{\n"
        f"    include {MIME_TYPES};\n"
        f"    default_type application/octet-stream;\n"
        + "".join(f"    {kind}_temp_path {path};\n" for kind, path in temporary.items())
        + f"    include {directory}/site.conf;\n"
        f"}}\n"
    )
    return conf


def command(directory: Path, *, error_log: Path, test: bool = False) -> list[str]:
    """nginx on the configuration `write_standalone` wrote to `directory` (`test`: nginx -t)."""
    return [
        NGINX,
        *("-p", f"{directory}/", "-c", str(directory / "nginx.conf"), "-e", str(error_log)),
        *(["-t", "-q"] if test else []),
    ]


def main():
    defaults = Site()
    parser = argparse.ArgumentParser(description="Print the nginx site of the web tier.")
    parser.add_argument("--server-name", action="append", dest="server_names", help="repeatable")
    parser.add_argument(
        "--upstream",
        action="append",
        dest="upstreams",
        help="gunicorn's address; repeatable, one per web node",
    )
    parser.add_argument("--static-root", default=defaults.static_root, help="STATIC_ROOT")
    parser.add_argument("--http-listen", action="append", help="default: 80 and [::]:80")
    parser.add_argument("--https-listen", action="append", help="default: 443 and [::]:443")
    parser.add_argument("--certificate", default="", help="PEM certificate chain; none: http only")
    parser.add_argument("--certificate-key", default="")
    parser.add_argument("--trusted-proxy", action="append", default=[], help="a load balancer in front")
    parser.add_argument("--access-log", default=defaults.access_log)
    args = parser.parse_args()
    site = Site(
        server_names=args.server_names or defaults.server_names,
        upstreams=args.upstreams or defaults.upstreams,
        static_root=args.static_root,
        http_listen=args.http_listen or defaults.http_listen,
        https_listen=args.https_listen or defaults.https_listen,
        certificate=args.certificate,
        certificate_key=args.certificate_key,
        trusted_proxies=args.trusted_proxy,
        access_log=args.access_log,
    )
    try:
        print(render(site), end="")
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
