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
        " for that start with --frida-reservation='2030-01-06 02:00:00'; OAR job 1894417"
        " was deleted"
    )


def test_a_reservation_that_cannot_run_at_all_says_what_to_change() -> None:
    stdout = KO.replace("could run at 2030-01-06 02:00:00", "cannot run")
    message = refusal_message(read_refusal(stdout, "", 10 << 8), REQUEST, "2030-01-05 20:00:00")
    assert message.endswith(
        "This reservation cannot run: pick another start, or ask for fewer nodes;"
        " OAR job 1894417 was deleted"
    )


def test_a_plain_refusal_keeps_its_words() -> None:
    stderr = (
        "# There are not enough resources for your request\n"
        "# Error: please verify your job submission syntax.\n"
    )
    assert refusal_message(read_refusal("", stderr, 8 << 8), REQUEST, None) == (
        f"OAR refused the reservation ({REQUEST}): There are not enough resources for your"
        " request Error: please verify your job submission syntax."
    )
