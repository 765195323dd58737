"""`chatdock agents …`, `chatdock tickets …` and `chatdock webhooks list`: the operator's
side of the API.

Every command validates with the API's check_* functions and writes with its do_*
functions, so the errors and the events are the API's. The CLI holds no sockets: its
events go through the database relay (server/realtime/relay.py) to every server
process's sockets, so a reply from a terminal reaches the visitor's widget.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from server.cli_support import command_app, output
from server.db import session_scope
from server.errors import ValidationError
from server.services import agents, chat, tickets, webhooks
from server.services.keys import find_business
from server.validation import check_content

AGENTS_PAGE = 100
LIST_LIMIT = 100  # as GET /tickets' per_page


# ---------- agents --------------------------------------------------------------------------


def _agent_line(a: dict[str, Any]) -> str:
    state = "active" if a["active"] else "deactivated"
    online = "online" if a["online"] else ("invited" if a["invited"] else "offline")
    return f"{a['id']:>5}  {a['email']:<32} {a['name']:<20} {a['role']:<6} {online:<8} {state}"


def cmd_agents_create(args: argparse.Namespace) -> None:
    fields = {"email": args.email, "name": args.name, "role": args.role,
              "password": args.password}
    new = agents.check_new_agent({k: v for k, v in fields.items() if v is not None})
    app = command_app()
    with session_scope(app) as session:
        user = agents.do_create_agent(session, find_business(session, args.business).id, new)
        data = agents.agent_json(user)
        if new.password is None:
            data["invite_token"] = agents.invite_token(
                agents.invite_serializer(app.config["SECRET_KEY"]), user)
    lines = [f"Created {data['role']} {data['id']}: {data['email']}."]
    if "invite_token" in data:
        lines += [f"Invitation (one use, {agents.INVITE_DAYS} days): {data['invite_token']}",
                  "The agent sets a password with POST /api/v1/auth/accept-invite "
                  '{"token": ..., "password": ...}.']
    output(args, data, lines)


def cmd_agents_list(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        business_id = find_business(session, args.business).id
        rows: list[dict[str, Any]] = []
        page, total = 1, 1
        while len(rows) < total:
            found, total = agents.list_agents(session, business_id, page, AGENTS_PAGE)
            rows += [agents.agent_json(u) for u in found]
            page += 1
            if not found:
                break
    output(args, {"agents": rows}, [_agent_line(a) for a in rows])


def _read_password() -> str:
    """The password from the terminal (asked twice), else one line of stdin."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New password: ")
    if getpass.getpass("Again: ") != first:
        raise ValidationError("The two passwords differ.", field="password")
    return first


def cmd_agents_set_password(args: argparse.Namespace) -> None:
    email = agents.check_email({"email": args.email})
    raw = args.password if args.password is not None else _read_password()
    password = agents.check_password({"password": raw})
    with session_scope(command_app()) as session:
        user = agents.find_agent(session, find_business(session, args.business).id, email)
        data = agents.agent_json(agents.do_set_password(session, user, password))
    output(args, data, [f"Password set for {data['email']}."])


def cmd_agents_deactivate(args: argparse.Namespace) -> None:
    email = agents.check_email({"email": args.email})
    with session_scope(command_app()) as session:
        user = agents.find_agent(session, find_business(session, args.business).id, email)
        data = agents.agent_json(agents.do_deactivate_agent(session, user))
    output(args, data, [f"{data['email']} is deactivated (since {data['deactivated_at']}): no "
                      "login, its tokens refused, its sockets closed."])


# ---------- tickets -------------------------------------------------------------------------


def _choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str | None:
    """As the API's query parameter check: one of choices, or the same 400 message."""
    if raw is not None and raw not in choices:
        raise ValidationError(f"{name} must be one of {', '.join(choices)}.", field=name)
    return raw


def _ticket_line(t: dict[str, Any]) -> str:
    who = t["customer"]["name"] or t["customer"]["email"] or t["customer"]["visitor_id"]
    assigned = f"@{t['assigned_to']}" if t["assigned_to"] else "-"
    unread = f"({t['unread_count']} new)" if t["unread_count"] else ""
    return (f"{t['id']:>6}  {t['status']:<8} {t['channel']:<6} {assigned:<6} "
            f"{t['updated_at'][:16].replace('T', ' ')}  {who[:24]:<24} {unread:<9} "
            f"{(t['last_message_preview'] or '')[:60]}")


def cmd_tickets_list(args: argparse.Namespace) -> None:
    mode = agents.check_mode({"mode": args.mode} if args.mode is not None else {})
    filters = tickets.TicketFilters(status=_choice("status", args.status, tickets.STATUSES),
                                    assigned_to=tickets.check_assignee_filter(args.assigned_to),
                                    q=tickets.check_query(args.q))
    if not 1 <= args.limit <= LIST_LIMIT:
        raise ValidationError(f"limit must be a whole number from 1 to {LIST_LIMIT}.",
                              field="limit")
    with session_scope(command_app()) as session:
        business_id = find_business(session, args.business).id
        rows, meta = tickets.list_tickets(session, business_id, mode, filters, "updated_desc",
                                          page=1, per_page=args.limit, cursor=None)
    head = f"{meta['total']} ticket(s) in {mode} mode, latest activity first:"
    if not rows:
        head = f"No tickets in {mode} mode" + (
            " (the demo and test keys make test-mode tickets: --mode test)." if mode == "live"
            else ".")
    output(args, {"tickets": rows, "meta": {**meta, "mode": mode}},
         [head] + [_ticket_line(t) for t in rows])


def _show_lines(t: dict[str, Any], mode: str) -> list[str]:
    c = t["customer"]
    lines = [f"Ticket {t['id']} · {t['status']} · {t['channel']} · {mode} mode"
             + (f" · assigned to {t['assigned_to']}" if t["assigned_to"] else ""),
             "Customer: " + " ".join(filter(None, [c["name"], c["email"] and f"<{c['email']}>",
                                                  f"(visitor {c['visitor_id']})"]))]
    if t["subject"]:
        lines.append(f"Subject: {t['subject']}")
    if t["tags"]:
        lines.append(f"Tags: {', '.join(t['tags'])}")
    lines.append("")
    for m in t["messages"]:
        role = m["sender"]["role"]
        name = m["sender"]["name"] or (c["name"] if role == "visitor" else None)
        sender = f"{role} {name}" if name else role
        lines.append(f"[{m['created_at'][:19].replace('T', ' ')}] {sender}: {m['content']}")
    return lines


def cmd_tickets_show(args: argparse.Namespace) -> None:
    with session_scope(command_app()) as session:
        business_id, mode = tickets.ticket_scope(session, args.ticket_id)
        ticket, cursor = tickets.do_read_ticket(session, business_id, mode, args.ticket_id, None)
        while cursor:  # every message, oldest first
            more, cursor = tickets.do_read_ticket(session, business_id, mode, args.ticket_id,
                                                  cursor)
            ticket["messages"] += more["messages"]
    output(args, {**ticket, "mode": mode}, _show_lines(ticket, mode))


def _read_reply() -> str:
    if sys.stdin.isatty():
        print("Type the reply; end it with Ctrl-D on a line of its own.", file=sys.stderr)
    return sys.stdin.read().rstrip("\n")


def cmd_tickets_reply(args: argparse.Namespace) -> None:
    email = agents.check_email({"email": args.as_email})
    app = command_app()
    text = args.text if args.text is not None else _read_reply()
    content = check_content({"content": text}, app.config["MESSAGE_MAX_LENGTH"])
    with session_scope(app) as session:
        business_id, mode = tickets.ticket_scope(session, args.ticket_id)
        user = agents.check_active(agents.find_agent(session, business_id, email))
        ticket_id = chat.find_conversation(session, business_id, mode, args.ticket_id)
        # as POST /tickets/{id}/messages with this agent's token
        message = chat.do_add_message(session, business_id, mode, ticket_id, content,
                                      direction="outbound", sender_role="agent",
                                      sender_name=user.name or user.email,
                                      sender_user_id=user.id)
    output(args, message, [f"Sent message {message['id']} to ticket {ticket_id} as "
                         f"{message['sender']['name']}."])


# ---------- webhooks ------------------------------------------------------------------------


def _webhook_line(e: dict[str, Any]) -> str:
    state = "enabled" if e["disabled_at"] is None else f"disabled {e['disabled_at'][:16]}"
    failures = f"({e['consecutive_failures']} failed in a row)" if e["consecutive_failures"] \
        else ""
    return f"{e['id']:>5}  {state:<26} {','.join(e['events']):<30} {e['url']} {failures}"


def cmd_webhooks_list(args: argparse.Namespace) -> None:
    mode = agents.check_mode({"mode": args.mode} if args.mode is not None else {})
    with session_scope(command_app()) as session:
        rows = webhooks.list_endpoints(session, find_business(session, args.business).id, mode)
    head = f"{len(rows)} webhook endpoint(s) in {mode} mode:" if rows else \
        f"No webhook endpoints in {mode} mode."
    output(args, {"webhooks": rows, "mode": mode}, [head] + [_webhook_line(e) for e in rows])


# ---------- the parsers ---------------------------------------------------------------------


def _command(sub: Any, name: str, func: Any, help_text: str, *, business: bool = True,
             json_flag: bool = True) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    if business:
        p.add_argument("--business", required=True, help="business slug")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=func)
    return p


def _agents_parsers(sub: Any) -> None:
    agents_sub = sub.add_parser("agents", help="manage agents and owners").add_subparsers(
        dest="agents_cmd", required=True)
    p = _command(agents_sub, "create", cmd_agents_create,
                 "add an agent; without --password, print a one-time invitation")
    p.add_argument("--email", required=True)
    p.add_argument("--name")
    p.add_argument("--role", help="agent (default) or owner")
    p.add_argument("--password", help="at least 10 characters")
    _command(agents_sub, "list", cmd_agents_list, "list the business's agents")
    p = _command(agents_sub, "set-password", cmd_agents_set_password,
                 "set an agent's password (from --password, else asked / read from stdin)")
    p.add_argument("email")
    p.add_argument("--password")
    p = _command(agents_sub, "deactivate", cmd_agents_deactivate,
                 "deactivate an agent: no login, tokens refused, sockets closed")
    p.add_argument("email")


class _Intermixed(argparse.ArgumentParser):
    """Positionals may follow options: in `reply 12 --as a@b.c "Hi"`, plain argparse has
    spent the optional TEXT slot by the time it meets "Hi" (argparse's intermixed parse)."""

    _mixing = False

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        if self._mixing:  # parse_known_intermixed_args calls back here
            return super().parse_known_args(args, namespace)
        self._mixing = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._mixing = False


def _tickets_parsers(sub: Any) -> None:
    tickets_sub = sub.add_parser("tickets", help="read and answer tickets").add_subparsers(
        dest="tickets_cmd", required=True, parser_class=_Intermixed)
    p = _command(tickets_sub, "list", cmd_tickets_list,
                 "list a business's tickets, latest activity first")
    p.add_argument("--mode", help="live (default) or test")
    p.add_argument("--status", help="open, pending or resolved")
    p.add_argument("--assigned-to", help="an agent id, or 'unassigned'")
    p.add_argument("--q", help="text in the subject or a message")
    p.add_argument("--limit", type=int, default=25, help=f"1 to {LIST_LIMIT} (default 25)")
    p = _command(tickets_sub, "show", cmd_tickets_show, "a ticket and all its messages",
                 business=False)
    p.add_argument("ticket_id", type=int)
    p = _command(tickets_sub, "reply", cmd_tickets_reply,
                 "answer a ticket as an agent (the visitor sees it live)", business=False)
    p.add_argument("ticket_id", type=int)
    p.add_argument("--as", dest="as_email", required=True, metavar="EMAIL",
                   help="the agent who answers")
    p.add_argument("text", nargs="?", help="the reply (default: read from stdin)")


def _webhooks_parsers(sub: Any) -> None:
    webhooks_sub = sub.add_parser("webhooks", help="the business's webhook endpoints"
                                  ).add_subparsers(dest="webhooks_cmd", required=True)
    p = _command(webhooks_sub, "list", cmd_webhooks_list,
                 "list a business's webhook endpoints, oldest first (never their secrets)")
    p.add_argument("--mode", help="live (default) or test")


def add_parsers(sub: Any) -> None:
    """Add `agents`, `tickets` and `webhooks` to the `chatdock` command."""
    _agents_parsers(sub)
    _tickets_parsers(sub)
    _webhooks_parsers(sub)
