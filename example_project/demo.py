"""``make demo``: the example CRM with everything it needs, in one command, with nothing to install.

Two client companies, each on an emulated PBX of its own: the first company's agents (``agent``,
``manager``) on the PBX ``default``, the second's (``acme-agent``, ``acme-manager``) on ``acme``; each
agent sees only their own PBX's calls and recordings, and their own company's customers.

Ctrl-C stops every process it started.
"""

from __future__ import annotations

import os
import sys
import time

from example_project.stack import DemoStack


def main() -> int:
    stack = DemoStack(
        host=os.environ.get("DEMO_HOST", "127.0.0.1"),
        web_port=int(os.environ.get("DEMO_PORT", "8000")),
        pbx_port=int(os.environ.get("DEMO_PBX_PORT", "8765")),
        acme_pbx_port=int(os.environ.get("DEMO_ACME_PBX_PORT", "8766")),
        # The emulated customer hangs up by themselves, so a recording attaches without a hang-up;
        # every page shows it and can change it (0: they stay on the line).
        hangup_after=int(os.environ.get("DEMO_HANGUP_AFTER", "30")),
    )
    try:
        with stack:
            hangs_up = (
                f"the customer hangs up {stack.hangup_after} s after answering"
                if stack.hangup_after
                else "the customer stays on the line until you hang up"
            )
            print(
                f"\n  Example CRM:   {stack.web_url}/\n"
                f"  Admin:         {stack.web_url}/admin/\n"
                f'  Emulated PBXs: {stack.pbx_url}/  "default", the first company\'s (SIP/101, SIP/102)\n'
                f'                 {stack.acme_pbx_url}/  "acme", the second company\'s (SIP/201)\n'
                f"                 every handset answers by itself; {hangs_up}\n"
                "                 (change it at the foot of any page)\n"
                "  Logins (password 'demo'):\n"
                "    agent, intern             the first company (PBX default)\n"
                "    acme-agent, acme-manager  the second company (PBX acme)\n"
                "    manager                   the admin: both companies\n"
                "  Ctrl-C stops everything.\n",
                flush=True,
            )
            while not stack.dead():
                time.sleep(0.5)
            print(f"demo: {', '.join(stack.dead())} stopped; stopping the rest", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
