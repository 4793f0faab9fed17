#!/usr/bin/env bash
# The lab's fault-tolerance demo, done with quorum commits: start a 3-node cluster, buy, kill
# the leader and time the failover, keep buying, restart the old leader and watch it catch up,
# partition off a minority and watch it refuse writes, heal, check every replica is equal, then
# lose a node's disk and replace it with the README's runbook (member remove/add, --join,
# promote), printing each command as it runs.
#
#   scripts/fault-tolerance-demo.sh [--config FILE]     (default cluster.config.json)
#
# It starts the nodes itself (so it can kill the leader by its PID), on the ports of the cluster
# file but with data folders in a temporary folder (the cluster's own data is not touched), and
# stops every process it started when it ends, even on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

config=cluster.config.json
if [ "${1:-}" = "--config" ] && [ -n "${2:-}" ]; then config=$2; fi
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
[ -f "$config" ] || { echo "error: no cluster file $config" >&2; exit 128; }
logdir=$(mktemp -d)
# A copy of the cluster file whose nodes keep their data under $logdir.
node -e 'const fs=require("fs");const c=JSON.parse(fs.readFileSync(process.argv[1],"utf8"));for(const n of c.nodes)n.dataDir=process.argv[2]+"/data/"+n.id;fs.writeFileSync(process.argv[2]+"/cluster.config.json",JSON.stringify(c,null,2))' "$(realpath "$config")" "$logdir"
config=$logdir/cluster.config.json

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }
cli() { npx --no-install market-cli --config "$config" "$@"; }
now_ms() { date +%s%3N; }

# Node ids and client URLs from the cluster file.
mapfile -t ids < <(node -e 'const c=require(process.argv[1]);for(const n of c.nodes)console.log(n.id)' "$(realpath "$config")")
url_of() {
  node -e 'const c=require(process.argv[1]);const n=c.nodes.find(n=>n.id===process.argv[2]);console.log(`http://${n.host}:${n.clientPort}`)' "$(realpath "$config")" "$1"
}

declare -A pids
start_node() {
  node bin/market-node.js --config "$config" --id "$1" --log-level warn \
    >>"$logdir/$1.log" 2>&1 &
  pids[$1]=$!
}
cleanup() {
  for id in "${!pids[@]}"; do kill -CONT "${pids[$id]}" 2>/dev/null || true; kill "${pids[$id]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  npm run --silent partition -- --config "$config" heal >/dev/null 2>&1 || true
}
trap cleanup EXIT

leader() { cli leader -w json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const j=JSON.parse(s);console.log(j.leaderId??j.id??"")}catch{console.log("")}})'; }
wait_for_leader() {
  for _ in $(seq 1 100); do
    l=$(leader); if [ -n "$l" ]; then echo "$l"; return 0; fi; sleep 0.1
  done
  echo "error: no leader elected" >&2; return 1
}
buy_at() { # buy_at URL -> prints the HTTP status
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST -H 'content-type: application/json' \
    -d "{\"requestId\":\"demo-$RANDOM-$RANDOM-$(now_ms)\",\"lines\":[{\"sku\":\"apple-1kg\",\"qty\":1}]}" \
    "$1/v1/orders" || true
}

say "1. Start ${#ids[@]} nodes from $config (logs in $logdir) and load the demo catalogue"
for id in "${ids[@]}"; do start_node "$id"; note "started $id (pid ${pids[$id]})"; done
first_leader=$(wait_for_leader)
note "the nodes elected $first_leader as leader: a majority voted for it in one term"
for attempt in $(seq 1 50); do
  if node --import tsx -e '
    const { demoRequests } = await import("./src/market/index.ts");
    const url = process.argv[1];
    for (const { kind, ...body } of demoRequests()) {
      const r = await fetch(url + "/v1/items", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      if (r.status !== 201 && r.status !== 409) process.exit(1);
    }' "$(url_of "$first_leader")" 2>/dev/null; then break; fi
  sleep 0.2
done
cli search | head -5; note "..."

say "2. Buy an item"
cli buy --item apple-1kg
note "acknowledged only after a majority wrote it to disk: it survives any one node's loss"

say "3. Kill the leader ($first_leader) with SIGKILL and time the failover"
survivors=(); for id in "${ids[@]}"; do [ "$id" != "$first_leader" ] && survivors+=("$id"); done
killed_at=$(now_ms)
kill -KILL "${pids[$first_leader]}"; wait "${pids[$first_leader]}" 2>/dev/null || true; unset "pids[$first_leader]"
note "killed $first_leader; buying at ${survivors[*]} until a write is acknowledged ..."
until [ "$(buy_at "$(url_of "${survivors[0]}")")" = "201" ] || [ "$(buy_at "$(url_of "${survivors[1]}")")" = "201" ]; do
  sleep 0.01
  if [ $(( $(now_ms) - killed_at )) -gt 15000 ]; then echo "error: no failover in 15 s" >&2; exit 1; fi
done
failover_ms=$(( $(now_ms) - killed_at ))
new_leader=$(wait_for_leader)
note "new leader: $new_leader, first acknowledged write ${failover_ms} ms after the kill"
note "(a primary-backup design waits out a 5-10 s heartbeat timeout; Raft's election timeout is"
note " randomized between 150 and 300 ms here, and PreVote keeps elections quick and clean)"

say "4. Keep buying with the old leader down"
for _ in 1 2 3; do cli buy --item apple-1kg; done
cli cluster status || true

say "5. Restart the old leader ($first_leader) and watch it catch up"
start_node "$first_leader"
for _ in $(seq 1 100); do
  if cli cluster status -w json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const rows=JSON.parse(s);const list=Array.isArray(rows)?rows:rows.nodes??[];const a=new Set(list.map(r=>r.appliedIndex??r.status?.appliedIndex));process.exit(list.length>=3&&a.size===1?0:1)})'; then break; fi
  sleep 0.1
done
cli cluster status
note "$first_leader rejoined as a follower and applied everything it missed: equal hashes"

minority=$(wait_for_leader)
say "6. Partition off a minority: isolate the current leader ($minority)"
npm run --silent partition -- --config "$config" isolate "$minority"
sleep 1
status=$(buy_at "$(url_of "$minority")")
note "a buy sent to the isolated $minority answered HTTP $status: it cannot reach a majority, so it"
note "cannot commit, and CheckQuorum makes it step down; it never acknowledges a write alone"
for _ in $(seq 1 50); do
  maj=""; for id in "${ids[@]}"; do [ "$id" != "$minority" ] && maj=$id; done
  [ "$(buy_at "$(url_of "$maj")")" = "201" ] && break; sleep 0.1
done
note "the majority side elected a new leader and keeps selling"
cli cluster status || true
note "the isolated node stays at its old term as a preCandidate: PreVote asks before it bumps"
note "its term, so when it returns it rejoins without deposing the healthy leader"

# Waits until every member that answers reports one state hash at one applied index.
converged() {
  for _ in $(seq 1 150); do
    if cli cluster status -w json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const rows=JSON.parse(s).filter(r=>!r.removedNodeId&&r.status);const h=new Set(rows.map(r=>r.status.stateHash+"@"+r.status.appliedIndex));process.exit(rows.length>=3&&h.size===1?0:1)})'; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}
show() { # prints the command as a user types it (market-cli, not this script's cli), then runs it
  local shown=$*; [ "$1" = cli ] && shown="market-cli ${*:2}"
  printf '   \033[2m$ %s\033[0m\n' "$shown"; "$@"
}
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

say "7. Heal, and check every replica is equal"
npm run --silent partition -- --config "$config" heal
if ! converged; then cli cluster status || true; echo "error: replicas did not converge" >&2; exit 1; fi
cli cluster status
note "every replica applied the same log to the same index: identical state hashes"

leader_now=$(wait_for_leader)
lost=""; for id in "${ids[@]}"; do [ "$id" != "$leader_now" ] && lost=$id; done
say "8. $lost loses its disk, and is replaced (README: runbook for a node that lost its disk)"
kill -KILL "${pids[$lost]}"; wait "${pids[$lost]}" 2>/dev/null || true; unset "pids[$lost]"
rm -rf "$logdir/data/$lost"
note "killed $lost and deleted its data folder; started again under its old id, it refuses:"
node bin/market-node.js --config "$config" --id "$lost" --log-level warn 2>&1 | grep '^error' | sed 's/^/   /' || true
note "(it ran in this cluster before, so its lost vote and log could make it vote twice or"
note " count toward a quorum for entries it no longer has; a new id is the safe way back)"
new_id=${lost}b
peer_port=$(free_port); client_port=$(free_port)
show cli member remove "$lost"
show cli member add "$new_id" --learner --peer-url "http://127.0.0.1:$peer_port" \
  --client-url "http://127.0.0.1:$client_port" --data-dir "$logdir/data/$new_id"
printf '   \033[2m$ market-node --config %s --id %s --join %s --peer-url %s --client-url %s --data-dir %s &\033[0m\n' \
  "$config" "$new_id" "$(url_of "$leader_now")" "http://127.0.0.1:$peer_port" \
  "http://127.0.0.1:$client_port" "$logdir/data/$new_id"
node bin/market-node.js --config "$config" --id "$new_id" --join "$(url_of "$leader_now")" \
  --peer-url "http://127.0.0.1:$peer_port" --client-url "http://127.0.0.1:$client_port" \
  --data-dir "$logdir/data/$new_id" --log-level warn >>"$logdir/$new_id.log" 2>&1 &
pids[$new_id]=$!
show cli member promote "$new_id" --wait
show cli member list
cli buy --item apple-1kg
if ! converged; then cli cluster status || true; echo "error: replicas did not converge" >&2; exit 1; fi
show cli cluster status
note "$new_id caught up from the leader as a learner, then became a voter; $lost is gone for"
note "good (its id is never given again), and every member holds the same state"
exit 0
