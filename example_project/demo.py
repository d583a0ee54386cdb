"""``make demo``: the example CRM with everything it needs, in one command, with nothing to install.

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
        # The emulated customer hangs up by themselves, so a recording attaches without a hang-up;
        # every page shows it and can change it (0: they stay on the line).
        hangup_after=int(os.environ.get("DEMO_HANGUP_AFTER", "30")),
    )
    try:
        with stack:
            print(
                f"\n  Example CRM:  {stack.web_url}/\n"
                f"  Admin:        {stack.web_url}/admin/\n"
                f"  Emulated PBX: {stack.pbx_url}/ (agent handset SIP/101 answers by itself;\n"
                f"                the customer hangs up {stack.hangup_after} s after answering:\n"
                "                change it at the foot of any page)\n"
                "  Logins (password 'demo'): agent, manager, intern\n"
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
