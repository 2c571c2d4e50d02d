"""An independent course peer in Python, written from the spec alone, for
the interop test (peer/interop_test.go).

It mines CHAIN_LEN blocks with its own hash code, GOSSIPs to the node under
test, serves STATS and GET_BLOCK for SERVE_SECONDS, then downloads the
node's chain one block at a time and verifies it with its own hash code.
It prints one JSON line with what it saw.

usage: pypeer.py NODE_PORT DIFFICULTY
"""
import hashlib, json, socket, struct, sys, time, uuid

CHAIN_LEN, SERVE_SECONDS = 50, 3.0
FIELDS = ["height", "minedBy", "nonce", "messages", "hash", "timestamp"]


def block_hash(prev, b):
    m = hashlib.sha256()
    if prev is not None:
        m.update(prev.encode("ascii"))
    m.update(b["minedBy"].encode("utf-8"))
    for msg in b["messages"]:
        m.update(msg.encode("utf-8"))
    m.update(struct.pack(">Q", b["timestamp"]))
    m.update(b["nonce"].encode("utf-8"))
    return m.hexdigest()


def mine(difficulty):
    chain = []
    for i in range(CHAIN_LEN):
        prev = chain[-1]["hash"] if chain else None
        b = {"height": i, "minedBy": "pypeer", "messages": ["héllo %d" % i, "wörld"], "timestamp": 1700000000 + i}
        n = 0
        while True:
            b["nonce"] = str(n)
            h = block_hash(prev, b)
            if h.endswith("0" * difficulty):
                b["hash"] = h
                break
            n += 1
        chain.append(b)
    return chain


def main():
    node = ("127.0.0.1", int(sys.argv[1]))
    difficulty = int(sys.argv[2])
    chain = mine(difficulty)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    host, port = s.getsockname()
    gossip = {"type": "GOSSIP", "host": host, "port": port, "id": str(uuid.uuid4()), "name": "pypeer"}
    s.sendto(json.dumps(gossip).encode(), node)
    s.settimeout(0.1)
    served, replied = 0, False
    end = time.time() + SERVE_SECONDS
    while time.time() < end:
        try:
            data, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        m = json.loads(data)
        if m.get("type") == "STATS":
            s.sendto(json.dumps({"type": "STATS_REPLY", "height": len(chain), "hash": chain[-1]["hash"]}).encode(), addr)
        elif m.get("type") == "GET_BLOCK":
            h = m.get("height")
            b = chain[h] if isinstance(h, int) and 0 <= h < len(chain) else {k: None for k in FIELDS}
            s.sendto(json.dumps(dict(type="GET_BLOCK_REPLY", **b)).encode(), addr)
            served += 1
        elif m.get("type") == "GOSSIP_REPLY":
            replied = True

    def ask(msg, want):
        for _ in range(20):
            s.sendto(json.dumps(msg).encode(), node)
            deadline = time.time() + 0.5
            while time.time() < deadline:
                try:
                    r = json.loads(s.recvfrom(65536)[0])
                except socket.timeout:
                    break
                if want(r):
                    return r
        raise SystemExit("no answer to %s" % msg)

    stats = ask({"type": "STATS"}, lambda r: r.get("type") == "STATS_REPLY")
    theirs, prev, valid = [], None, True
    for i in range(stats["height"]):
        b = ask({"type": "GET_BLOCK", "height": i}, lambda r: r.get("type") == "GET_BLOCK_REPLY" and r.get("height") == i)
        ok = block_hash(prev, b) == b["hash"] and b["hash"].endswith("0" * difficulty)
        valid = valid and ok
        prev = b["hash"]
        theirs.append(b)
    print(json.dumps({
        "our_top": chain[-1]["hash"], "served": served, "gossip_reply": replied,
        "node_height": stats["height"], "node_chain_valid": valid,
        "shares_our_chain": len(theirs) >= len(chain) and theirs[len(chain) - 1]["hash"] == chain[-1]["hash"],
        "node_top_miner": theirs[-1]["minedBy"] if theirs else None,
    }))


main()
