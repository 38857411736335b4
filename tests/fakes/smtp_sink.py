#!/usr/bin/python3
"""An SMTP server on 127.0.0.1 that keeps what it receives: the email alert
channel's test peer (aiosmtpd 1.4, Debian's python3-aiosmtpd).

    /usr/bin/python3 tests/fakes/smtp_sink.py --port-file F --out F.jsonl
        [--mode starttls|smtps|plain] [--cert C --key K]
        [--username U --password P]

--mode starttls (the default) offers STARTTLS and refuses MAIL before it;
smtps speaks TLS from the first byte; plain has no TLS at all. With
--username, AUTH (PLAIN or LOGIN) is required and checked against
--username/--password (and, except in smtps and plain mode, only offered
after STARTTLS). Each message becomes one JSON line in --out: mail_from,
rcpt_tos, data (the raw message), login (the authenticated user or null),
mechanism, tls. The port goes to --port-file (written whole, by rename) once
the server listens. Stops on SIGTERM or SIGINT.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, out, mode):
        self.out = out
        self.mode = mode
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "time": time.time(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "replace"),
            "login": login,
            "mechanism": getattr(session, "jobsd_mechanism", None),
            "tls": self.mode == "smtps" or session.ssl is not None,
        }
        with open(self.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 Ok: queued as %d" % self.count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", choices=["starttls", "smtps", "plain"], default="starttls")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--username")
    parser.add_argument("--password", default="")
    args = parser.parse_args()

    context = None
    if args.mode != "plain":
        if not (args.cert and args.key):
            parser.error("--mode %s needs --cert and --key" % args.mode)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        session.jobsd_mechanism = mechanism
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == args.username.encode()
              and auth_data.password == args.password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sink = Sink(args.out, args.mode)

    def factory():
        return SMTP(
            sink,
            hostname="localhost",
            tls_context=context if args.mode == "starttls" else None,
            require_starttls=args.mode == "starttls",
            auth_required=bool(args.username),
            # In smtps mode the connection is TLS already; aiosmtpd only
            # knows about STARTTLS.
            auth_require_tls=args.mode == "starttls",
            authenticator=authenticator if args.username else None,
            loop=loop)

    server = loop.run_until_complete(loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if args.mode == "smtps" else None))
    port = server.sockets[0].getsockname()[1]
    with open(args.port_file + ".tmp", "w") as f:
        f.write("%d\n" % port)
    os.rename(args.port_file + ".tmp", args.port_file)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


if __name__ == "__main__":
    main()
