"""Copying images to Docker daemons that cannot reach a registry: `docker save | docker load`.

A target is anything `docker -H` accepts (`ssh://user@node`, `tcp://...`, `unix:///...`);
a bare host name means `ssh://root@<name>`, as on Grid'5000 nodes after deployment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence

from pytest_frida.runtimes.docker_cli import DockerCli, DockerError

TRANSFER_TIMEOUT_S = 900.0


def docker_target(host: str) -> str:
    """The `docker -H` address of a host named on the command line."""
    if "://" in host:
        return host
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"host {host!r} is not a host name or a docker -H address"
                         " (ssh://user@node, tcp://..., unix:///...)")
    return f"ssh://{host}" if "@" in host else f"ssh://root@{host}"


def push_images(images: Sequence[str], targets: Sequence[str], source: DockerCli,
                progress: Callable[[str], None] = print) -> None:
    """Load `images` from the `source` daemon into every target daemon (skipping up to date)."""
    ids = {}
    for image in images:
        found = source.inspect("image", [image])
        if not found:
            raise DockerError(f"image {image} is not on {source.where}: run `frida images"
                              " build` first")
        ids[image] = found[0]["Id"]
    for target in targets:
        remote = DockerCli(docker_target(target))
        remote.ping()
        missing = [img for img in images
                   if [i.get("Id") for i in remote.inspect("image", [img])] != [ids[img]]]
        if not missing:
            progress(f"{target}: images up to date")
            continue
        progress(f"{target}: loading {', '.join(missing)}")
        save = subprocess.Popen(source.argv("save", *missing), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert save.stdout is not None
        try:
            remote.run("load", "-q", stdin=save.stdout, timeout=TRANSFER_TIMEOUT_S)
        finally:
            save.stdout.close()
            _, err = save.communicate(timeout=60)
        if save.returncode != 0:
            raise DockerError(f"docker save on {source.where} failed:"
                              f" {err.decode(errors='replace').strip()}")
