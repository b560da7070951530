"""What recording does to each exchange before it is written, for one cassette.

The redaction pipeline, in order: the user's ``before_record`` hooks, then personal data
(:class:`.PersonalData`: the recording user's e-mail, names, photo, key names, IP
addresses and home folders, replaced consistently), then secrets (:class:`.Scrubber`:
the rules of :mod:`._rules`, the key in use, and every value a rule found once, replaced
wherever else the cassette holds it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..store import Body, Cassette, Interaction, body_text
from ._engine import DEFAULT, QUICK, Scrubber, scrub_text
from ._personal import EMAIL_TOKEN, IP_TOKEN, PersonalData, matching_form

# -- the per-cassette pipeline -------------------------------------------------------------------


class CassetteScrubber:
    """Everything recording does to an exchange before it is written, for one cassette.

    ``record(ix)`` runs the user's hooks, then :class:`~.personal.PersonalData`
    (learns the recording user's email, name, photo, key names and the IP
    addresses as they come, and replaces each with a stable placeholder), then
    the secret rules. ``finish(cassette)`` runs once before saving: values
    learned late are replaced in the exchanges recorded before, and the
    metadata is scrubbed too. Feed it the exchanges in recording order.
    """

    def __init__(self, scrubber: Scrubber = DEFAULT, personal: PersonalData | None = None) -> None:

        self.scrubber = scrubber
        self.personal = personal if personal is not None else PersonalData()
        self._learned = False

    def record(self, ix: Interaction) -> Interaction | None:
        """``ix`` as the cassette keeps it, or None when a hook left it out.

        Secrets a rule finds in a request body are learned (:meth:`Scrubber.scrub_learning`)
        and replaced wherever they appear in this cassette.
        """
        hooked = self.scrubber.run_hooks(ix)
        if hooked is None:
            return None
        personal = self.personal.scrub(hooked)
        text = body_text(personal.request_body)
        if text:
            before = self.scrubber
            scrubbed, self.scrubber = before.scrub_learning(text)
            self._learned = self._learned or self.scrubber is not before
            body: Body = scrubbed if isinstance(personal.request_body, str) else scrubbed.encode()
            personal = dataclasses.replace(personal, request_body=body)
        return self.scrubber.scrub_interaction(personal)

    def finish(self, cassette: Cassette) -> Cassette:
        """``cassette`` with late-learned personal data and secrets replaced, metadata scrubbed."""
        interactions = [self.personal.replace_in(ix) for ix in cassette.interactions]
        if self._learned:  # a secret learned late may sit in an exchange recorded before
            interactions = [self.scrubber.scrub_interaction(ix) for ix in interactions]
        metadata = self.scrubber.scrub_metadata(self.personal.scrub_metadata(cassette.metadata))
        return Cassette(interactions, metadata, cassette.path)


# -- the module-level API (default rules) ---------------------------------------------------------


def scrub_name(name: str, secrets: Sequence[str] = (), *, catalogue: bool = True) -> str:
    """A cassette or test name with secrets and personal data replaced (for file names).

    Email and IP addresses become ``EMAIL`` and ``IP``, home folders ``~``: what
    recording replaces in a cassette stays out of its file name too. ``catalogue``:
    False leaves out the catalogue's formats (no compilation): the name a cassette
    has when none of them is in it (see :func:`.plugin.cassette_path_for`).
    """
    scrubber = DEFAULT if catalogue else QUICK
    out = matching_form(scrub_text(name, secrets, scrubber))
    return out.replace(EMAIL_TOKEN, "EMAIL").replace(IP_TOKEN, "IP")
