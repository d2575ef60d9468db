"""A failed oarsub's output read as OAR 2.5 prints it: a refusing admission rule, an
advance reservation OAR could not place, and a plain refusal, in one line each."""

from __future__ import annotations

from pytest_frida.sites.g5k_refusal import exit_status, read_refusal, refusal_message

REQUEST = "{cluster='uvb'}/nodes=3, walltime 3600s"
#: oarsub's informative admission-rule line, on stdout (a pty's \r\n)
INFO = "[ADMISSION RULE] Modify resource description with type constraints\r\n"
RULE = "[ADMISSION RULE] Error: Walltime too big for this job, it is limited to 2 hours"
KO = (
    "OAR_JOB_ID=1894417\r\n# Advance reservation request: waiting for validation...\r\n"
    "# Reservation not valid --> KO (This reservation could run at 2030-01-06 02:00:00)\r\n"
)


def test_execo_gives_the_raw_wait_status() -> None:
    assert (exit_status(254 << 8), exit_status(10 << 8), exit_status(None)) == (254, 10, None)


def test_an_admission_rule_is_quoted_once_and_named_as_the_refuser() -> None:
    refusal = read_refusal(INFO, f"{RULE}\n\n", 254 << 8)
    message = refusal_message(refusal, REQUEST, None)
    assert message == f"OAR's admission rules refused the job ({REQUEST}): {RULE}"


def test_a_merged_stderr_gives_oars_last_line() -> None:
    refusal = read_refusal(f"{INFO}{RULE}\r\n", "", 254 << 8)
    assert (refusal.reason, refusal.by_admission) == (RULE, True)


def test_a_reservation_oar_cannot_place_names_its_job_and_the_start_it_offers() -> None:
    refusal = read_refusal(KO, "", 10 << 8)
    assert (refusal.job_id, refusal.could_start) == (1894417, "2030-01-06 02:00:00")
    message = refusal_message(refusal, REQUEST, "2030-01-05 20:00:00")
    assert message == (
        f"OAR could not place the advance reservation ({REQUEST}) at 2030-01-05 20:00:00"
        " Paris time: This reservation could run at 2030-01-06 02:00:00 (Paris time): ask"
        " for that start with --frida-reservation='2030-01-06 02:00:00'; OAR ended job"
        " 1894417 in Error (nothing is held)"
    )
    assert "deleted" not in message  # OAR ended it; nothing of ours deleted it


def test_a_reservation_that_cannot_run_at_all_says_what_to_change() -> None:
    stdout = KO.replace("could run at 2030-01-06 02:00:00", "cannot run")
    message = refusal_message(read_refusal(stdout, "", 10 << 8), REQUEST, "2030-01-05 20:00:00")
    assert message.endswith(
        "This reservation cannot run: pick another start, or ask for fewer nodes;"
        " OAR ended job 1894417 in Error (nothing is held)"
    )


#: OAR 2.5.10's oarsub when no resource matches: OAR::IO warns the reason and gives job
#: id -5, which oarsub prints only when verbose (-v), then its own error; it exits 8
NO_RESOURCES = "# There are not enough resources for your request\n"
SYNTAX = "# Error: please verify your job submission syntax.\n"
PLAIN = (
    f"OAR refused the reservation ({REQUEST}): There are not enough resources for your"
    " request; Error: please verify your job submission syntax."
)
#: the same from OAR before 2.5.10 (and 2.5.10 with -v): the -5 printed as a job id
PLAIN_BEFORE_2022 = "# Error: oarsub failed, please verify your request syntax.\n"
SSH_WARNING = (
    "Warning: Permanently added 'fsophia.sophia.grid5000.fr' (ED25519) to the list of"
    " known hosts.\r\n"
)


def test_a_plain_refusal_keeps_its_words() -> None:
    refusal = read_refusal("", NO_RESOURCES + SYNTAX, 8 << 8)
    assert (refusal.job_id, refusal.by_admission) == (None, False)
    assert refusal_message(refusal, REQUEST, None) == PLAIN


def test_a_merged_plain_refusal_quotes_every_oar_line() -> None:
    merged = f"{NO_RESOURCES}{SYNTAX}".replace("\n", "\r\n")
    refusal = read_refusal(merged, "", 8 << 8)
    assert (refusal.job_id, refusal_message(refusal, REQUEST, None)) == (None, PLAIN)


def test_an_older_oars_negative_job_id_is_no_job() -> None:
    merged = f"{NO_RESOURCES}OAR_JOB_ID=-5\n{PLAIN_BEFORE_2022}".replace("\n", "\r\n")
    refusal = read_refusal(merged, "", 8 << 8)
    assert refusal.job_id is None  # -5 is OAR's error code, not a job
    assert refusal.reason == (
        "There are not enough resources for your request;"
        " Error: oarsub failed, please verify your request syntax."
    )


def test_the_ssh_clients_own_warning_is_never_oars_reason() -> None:
    apart = read_refusal(INFO, f"{SSH_WARNING}{RULE}\n", 254 << 8)
    assert apart.reason == RULE
    merged = read_refusal(f"{SSH_WARNING}{INFO}{RULE}\r\n", "", 254 << 8)
    assert merged.reason == RULE
    # a stderr with nothing but the client's warning: OAR's words are in stdout
    plain = read_refusal(f"{NO_RESOURCES}{SYNTAX}", SSH_WARNING, 8 << 8)
    assert refusal_message(plain, REQUEST, None) == PLAIN


def test_a_reservation_whose_window_is_over_is_told_to_start_in_the_future() -> None:
    stdout = KO.replace("This reservation could run at 2030-01-06 02:00:00", "Reservation too old")
    message = refusal_message(read_refusal(stdout, "", 10 << 8), REQUEST, "2020-01-05 20:00:00")
    assert "Reservation too old" in message
    assert "ask for a start in the future" in message
    assert "fewer nodes" not in message


def test_an_oarsub_that_timed_out_is_not_called_refused() -> None:
    stdout = "OAR_JOB_ID=1894417\r\n# Advance reservation request: waiting for validation...\r\n"
    refusal = read_refusal(stdout, "", None, timed_out_s=900)
    message = refusal_message(refusal, REQUEST, "2030-01-05 20:00:00")
    assert message.startswith("oarsub did not answer within 900s and was stopped"), message
    assert "refused" not in message and "waiting for validation" in message
    assert message.endswith("OAR job 1894417 was deleted")


class _Oarsub:
    """What execo keeps of an oarsub it stopped at its timeout."""

    stdout, stderr, exit_code, timeout, timeouted = "", "", None, 900, True


def test_a_timed_out_oarsub_is_said_so_and_its_job_looked_up_by_name() -> None:
    """execo stopped oarsub before it printed an id: no id is deleted blindly, but a job
    OAR created meanwhile under the run's own name is looked up and deleted."""
    from types import SimpleNamespace

    from pytest_frida.sites.g5k import G5KSite

    deleted: list[int] = []
    named: list[str] = []

    def delete_named(name: str) -> str:
        named.append(name)
        return f"; deleted 1894417 ({name})"

    def refused(job_name: str | None, name: str) -> str:
        site = SimpleNamespace(
            _delete=lambda g5k, job: deleted.append(job),
            _delete_named=delete_named,
            res=SimpleNamespace(job_name=job_name),
        )
        error = G5KSite._refused(
            site,  # type: ignore[arg-type]
            None,
            SimpleNamespace(processes=[_Oarsub()]),
            REQUEST,
            None,
            name,
        )
        return str(error)

    error = refused(None, "frida-20261205-170000-ab12")
    assert error.startswith("oarsub did not answer within 900s"), error
    assert error.endswith("; deleted 1894417 (frida-20261205-170000-ab12)"), error
    assert (deleted, named) == ([], ["frida-20261205-170000-ab12"])
    # a name of the user's choosing may be another run's too: not deleted by name
    error = refused("kafka-night", "kafka-night")
    assert "see oarstat -u" in error and named == ["frida-20261205-170000-ab12"], error
