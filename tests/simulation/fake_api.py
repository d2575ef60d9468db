"""A stand-in for the Grid'5000 reference and status APIs on 127.0.0.1: sites, clusters,
nodes, and the nodes' states.

It answers the paths execo_g5k's api_utils asks for, with the JSON shapes the real API
returns (items lists of objects with a `uid`; the status document's `nodes` keyed by full
node name with a `hard` state), for the nodes of a simulated testbed. As on the testbed, a
site may have clusters in the `production` queue beside its default-queue one, and a node
may be dead.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypedDict


def reference_data(site: str, cluster: str, nodes: list[str]) -> dict[str, Any]:
    """Path (without leading slash, after the API version) -> JSON document."""
    return {
        "": {"version": "simulated-1", "type": "grid", "uid": "grid5000"},
        "sites": {"items": [{"uid": site, "type": "site"}], "total": 1, "offset": 0},
        f"sites/{site}": {
            "uid": site,
            "type": "site",
            "name": site.capitalize(),
            "location": "Sophia Antipolis, France",
            "frontend_ip": "127.0.0.1",
        },
        f"sites/{site}/clusters": {"items": [], "total": 0, "offset": 0},
        f"sites/{site}/status": {"nodes": {}, "disks": {}, "vlans": {}},
        "network_equipments": {"items": [], "total": 0, "offset": 0},
        f"sites/{site}/network_equipments": {"items": [], "total": 0, "offset": 0},
    } | add_cluster({}, site, cluster, nodes)


def add_cluster(
    data: dict[str, Any],
    site: str,
    cluster: str,
    nodes: list[str],
    queues: tuple[str, ...] = ("admin", "default"),
) -> dict[str, Any]:
    """`data` with one more cluster at `site` (its nodes alive); returns `data`."""
    node_docs = [
        {
            "uid": name.split(".", 1)[0],
            "type": "node",
            "cluster_uid": cluster,
            "architecture": {
                "nb_cores": 2,
                "nb_procs": 1,
                "nb_threads": 2,
                "platform_type": "x86_64",
            },
            "main_memory": {"ram_size": 24 * 1024**3},
            "network_adapters": [
                {
                    "device": "eth0",
                    "enabled": True,
                    "mounted": True,
                    "interface": "Ethernet",
                    "rate": 10_000_000_000,
                    "network_address": name,
                }
            ],
            "supported_job_types": {"deploy": True, "besteffort": True, "virtual": "ivt"},
        }
        for name in nodes
    ]
    clusters = data.setdefault(f"sites/{site}/clusters", {"items": [], "offset": 0})
    clusters["items"].append({"uid": cluster, "type": "cluster"})
    clusters["total"] = len(clusters["items"])
    data[f"sites/{site}/clusters/{cluster}"] = {
        "uid": cluster,
        "type": "cluster",
        "queues": list(queues),
        "model": "simulated",
        "created_at": "Thu, 01 Jan 2026 00:00:00 GMT",
    }
    data[f"sites/{site}/clusters/{cluster}/nodes"] = {
        "items": node_docs,
        "total": len(node_docs),
        "offset": 0,
    }
    status = data.setdefault(f"sites/{site}/status", {"nodes": {}, "disks": {}, "vlans": {}})
    for name in nodes:
        status["nodes"][name] = {
            "hard": "alive",
            "soft": "free",
            "comment": "OK",
            "reservations": [],
        }
    return data


def set_node_state(data: dict[str, Any], site: str, node: str, hard: str) -> None:
    """The status API's `hard` state of `node` (alive, dead, suspected, absent)."""
    data[f"sites/{site}/status"]["nodes"][node]["hard"] = hard


class Grid5000(TypedDict):
    """What the `grid5000` fixture gives a test: the fake OAR's state file and command log,
    this API, and the options that point a run at them."""

    state: Path
    api: FakeReferenceApi
    log: Path
    args: list[str]


class FakeReferenceApi:
    """Serves `reference_data` under /3.0/ (and /stable/) on a free 127.0.0.1 port."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.requests: list[str] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0].strip("/")
                for prefix in ("3.0", "stable"):
                    if path == prefix or path.startswith(prefix + "/"):
                        path = path[len(prefix) :].strip("/")
                api.requests.append(path)
                doc = api.data.get(path)
                body = json.dumps(
                    doc if doc is not None else {"code": 404, "message": f"{path} not found"}
                ).encode()
                self.send_response(200 if doc is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/3.0/"

    def start(self) -> FakeReferenceApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
