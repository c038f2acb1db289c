"""A TLS front for a plaintext Kafka broker, for the inference log's TLS test.

    tls_proxy.py LISTEN_PORT BROKER_PORT CA_FILE

Makes a throwaway CA and a certificate for 127.0.0.1 (trustme), writes the CA to CA_FILE
(the producer's `ssl.ca.location`), then accepts TLS connections on LISTEN_PORT and relays
each, decrypted, to the broker on BROKER_PORT. The broker advertises LISTEN_PORT, so every
connection a client makes goes through TLS. Prints "ready" once listening; counts the TLS
sessions it relayed on stderr when stopped.
"""

import asyncio
import signal
import ssl
import sys

import trustme


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main():
    listen_port, broker_port, ca_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    sessions = 0

    async def relay(client_reader, client_writer):
        nonlocal sessions
        sessions += 1
        broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", broker_port)
        await asyncio.gather(pipe(client_reader, broker_writer), pipe(broker_reader, client_writer))

    server = await asyncio.start_server(relay, "127.0.0.1", listen_port, ssl=context)
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    print(f"relayed {sessions} TLS sessions", file=sys.stderr)


asyncio.run(main())
