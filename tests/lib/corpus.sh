# shellcheck shell=bash
# corpus.sh - drives the evaluation corpus (tests/corpus) under a running memwatchd and judges
# the detector against each scenario's known truth.  Sourced by bench/detect.sh (the whole
# corpus) and tests/integration/corpus_detect.sh (a few scenarios at high speed); it does not
# need tests/lib/common.sh, but cooperates with it (processes go to track_pid when it is
# defined, with the TAP descriptors closed).  Needs bash 4, curl, jq and awk.
#
#   corpus_config SPEED             the memwatchd configuration for a run at SPEED (INI text):
#                                   [detect] speed, Go scrape intervals scaled down
#   corpus_init DIR SPEED SERVER CORPUS MEMWATCHCTL
#                                   a run: work files go to DIR (created); SERVER is the
#                                   daemon's base URL
#   corpus_start NAME SCENARIO [ARGS...]
#                                   starts CORPUS -scenario SCENARIO -speed SPEED
#                                   -memprofilerate 4096 -max-mb CORPUS_MAX_MB [ARGS...] in the
#                                   background (call it directly, not in $(...)); heap leaks
#                                   get GOMEMLIMIT = CORPUS_MAX_MB + 200 MiB
#   corpus_ready NAME [TIMEOUT_S]   waits for its "ready" line; reads truth and culprit
#   corpus_add NAME                 memwatchctl add NAME --pid PID --endpoint URL
#   corpus_run DURATION_S           polls every second for DURATION_S (from the call)
#   corpus_report                   the table, the confusion matrix and the totals (stdout)
#   corpus_stop_all                 stops every scenario still running
#
# What polling does, every second (one curl for everything):
#   GET /api/v1/targets/NAME/verdict for each running scenario, and GET /api/v1/alerts?all=1.
#   A leak is judged between its onset ("phase leak-start t=") and its end: "phase
#   cap-reached" (it stops growing there), its stop, or the end of the run.  The first
#   "leaking" verdict in that span is its detection (at the poll that saw it, or at the
#   verdict's "since" if that is after the previous poll); its kind is that verdict's, and
#   the signals that were "leaking" then are noted.  "leaking" on a non-leak, or on a leak
#   before its onset, is a false alarm.  Every verdict read goes to DIR/verdicts.jsonl.
#   Culprits: from the target's alert when GET /api/v1/alerts answers (the first culprit of
#   the alert as first seen firing); until that endpoint exists (404), from the profile diff
#   since the onset (GET .../heap/diff?from=ONSET or .../goroutines/diff), fetched when the
#   leak is first seen "leaking", whose first site stands in for the alert's first culprit.
#   The diff is fetched in both cases, and reported beside the alert's.
#   A detected leak is stopped once its culprit is known and its alert has fired (or, without
#   the alerts endpoint, at once; in any case CORPUS_GRACE_S after detection), and at its cap;
#   and if the scenarios together pass CORPUS_MAX_RSS_MIB of RSS the largest running leak is
#   stopped: memory stays bounded whatever the detector does.
#
# Results, per NAME: C_TRUTH C_CULPRIT C_ONSET_MS C_END_MS C_DET_MS C_DET_KIND C_FA_MS
# C_WORST C_CUL_FN C_CUL_SRC C_CUL_OK C_ALERT_FIRED_MS C_STOP_WHY (assoc arrays, ms Unix
# times); after corpus_report also C_RESULT (TP FN TN FP) and C_KIND_OK.
#
# Tunables (set before corpus_init; empty means the default): CORPUS_MAX_MB (-max-mb of
# every scenario, 1600), CORPUS_MAX_RSS_MIB (10240), CORPUS_GRACE_S (300 / SPEED, >= 10).

# The scenarios whose truth is a heap leak (they get GOMEMLIMIT) and what each one's culprit
# may also be called (subslice-pin's bug is in extractHeader, which allocates nothing).
CORPUS_HEAP_LEAKS=" map-cache slice-append slow-churn subslice-pin late-onset "
declare -A CORPUS_ALSO_CULPRIT=(["subslice-pin"]="main.extractHeader")

declare -a CORPUS_NAMES=()
declare -A C_SCEN=() C_PID=() C_OUT=() C_URL=() C_TRUTH=() C_CULPRIT=() C_START_MS=()
declare -A C_ONSET_MS=() C_CAP_MS=() C_END_MS=() C_STOP_MS=() C_STOP_WHY=()
declare -A C_PREV_POLL=() C_DET_MS=() C_DET_POLL_MS=() C_DET_KIND=() C_FA_MS=() C_WORST=() C_LAST=()
declare -A C_DIFF_FN=() C_DIFF2_FN=() C_DET_SIGNALS=() C_ALERT_FN=() C_ALERT_FIRED_MS=() C_ALERT_FIRING=() C_ALERT_KIND=()
declare -A C_CUL_FN=() C_CUL_SRC=() C_CUL_OK=() C_RESULT=() C_KIND_OK=() C_AFA=()
CORPUS_ALERTS_STATUS=
CORPUS_PEAK_RSS_KIB=0

# corpus_config SPEED: [detect] speed = SPEED; runtime statistics every 10 s / SPEED (at
# least 1 s, the configuration's floor), profiles every 60 s / SPEED (at least 2 s).
corpus_config() {
    local speed=$1 rt pf
    rt=$((10000 / speed)) pf=$((60000 / speed))
    [ "$rt" -ge 1000 ] || rt=1000
    [ "$pf" -ge 2000 ] || pf=2000
    printf '%s\n' '[sampling]' 'interval = 1s' '' '[go]' "runtime_interval = ${rt}ms" \
        "profile_interval = ${pf}ms" 'timeout = 2s' '' '[detect]' "speed = $speed"
}

_c_now_ms() {
    local t=${EPOCHREALTIME/,/.}
    if [ -z "$t" ]; then
        t=$(date +%s.%N)
    fi
    echo $(( ${t%.*} * 1000 + 10#$(printf '%.3s' "${t#*.}000") ))
}

_c_sec_to_ms() {    # Unix seconds (integer or fractional, as the API writes them) to ms; "-" stays
    local s=$1 f
    case $s in
    '' | - | null) echo - ;;
    *.*) f=${s#*.}000; echo $(( ${s%.*} * 1000 + 10#${f:0:3} )) ;;
    *) echo $((s * 1000)) ;;
    esac
}

_c_event() {        # a line on stderr as things happen (bench progress; the test's log)
    printf 'corpus +%4ds %s\n' $(( ($(_c_now_ms) - CORPUS_T0_MS) / 1000 )) "$*" >&2
}

# corpus_init DIR SPEED SERVER CORPUS MEMWATCHCTL
corpus_init() {
    CORPUS_DIR=$1 CORPUS_SPEED=$2 CORPUS_SERVER=$3 CORPUS_BIN=$4 CORPUS_CTL=$5
    mkdir -p "$CORPUS_DIR" || return 1
    # A 1 MiB/s leak grows for 1600 s of the story (160 s of the clock at speed 10) before
    # its cap: well past the earliest the detector can confirm a leak that starts with the
    # program (60 % of the window, 108 s at speed 10), and as much as memory allows: four
    # heap leaks grow at once.
    CORPUS_MAX_MB=${CORPUS_MAX_MB:-1600}
    CORPUS_MAX_RSS_MIB=${CORPUS_MAX_RSS_MIB:-10240}
    CORPUS_GRACE_S=${CORPUS_GRACE_S:-$(( 300 / CORPUS_SPEED > 10 ? 300 / CORPUS_SPEED : 10 ))}
    CORPUS_T0_MS=$(_c_now_ms)
    : >"$CORPUS_DIR/verdicts.tsv"
    : >"$CORPUS_DIR/alerts.tsv"
    : >"$CORPUS_DIR/verdicts.jsonl"
}

# corpus_start NAME SCENARIO [ARGS...]: sets C_PID[NAME]; output in $CORPUS_DIR/NAME.out.
corpus_start() {
    local name=$1 scen=$2 out pid limit=
    shift 2
    out=$CORPUS_DIR/$name.out
    case $CORPUS_HEAP_LEAKS in *" $scen "*) limit=$((CORPUS_MAX_MB + 200))MiB ;; esac
    local -a cmd=(env)
    [ -n "$limit" ] && cmd+=("GOMEMLIMIT=$limit")
    cmd+=("$CORPUS_BIN" -scenario "$scen" -speed "$CORPUS_SPEED" -addr 127.0.0.1:0
        -memprofilerate 4096 -max-mb "$CORPUS_MAX_MB" "$@")
    if [ -n "${MW_STDOUT:-}" ] && declare -F track_pid >/dev/null; then
        "${cmd[@]}" </dev/null >"$out" 2>&1 {MW_STDOUT}>&- {MW_STDERR}>&- &
        pid=$!
        track_pid "$pid"
    else
        "${cmd[@]}" </dev/null >"$out" 2>&1 &
        pid=$!
    fi
    CORPUS_NAMES+=("$name")
    C_SCEN[$name]=$scen C_PID[$name]=$pid C_OUT[$name]=$out C_START_MS[$name]=$(_c_now_ms)
    C_WORST[$name]=none
}

_c_alive() {
    local st
    [ -r "/proc/$1/stat" ] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# corpus_ready NAME [TIMEOUT_S]: waits for "ready"; C_URL, C_TRUTH from it, C_CULPRIT from
# /debug/vars (corpus_culprit).  1 (and a line on stderr) if it does not come.
corpus_ready() {
    local name=$1 timeout=${2:-15} i addr out=${C_OUT[$1]}
    for ((i = 0; i < timeout * 10; i++)); do
        grep -q '^ready ' "$out" 2>/dev/null && break
        _c_alive "${C_PID[$name]}" || break
        sleep 0.1
    done
    if ! grep -q '^ready ' "$out" 2>/dev/null; then
        echo "corpus: $name (${C_SCEN[$name]}) is not ready: $(tail -n 5 "$out" 2>/dev/null)" >&2
        return 1
    fi
    addr=$(sed -n 's/^listening on \([^ ]*:[0-9][0-9]*\)$/\1/p' "$out" | head -n 1)
    C_URL[$name]=http://$addr
    C_TRUTH[$name]=$(sed -n 's/^ready .* truth=\([^ ]*\).*/\1/p' "$out" | head -n 1)
    C_CULPRIT[$name]=$(curl -s --max-time 5 "${C_URL[$name]}/debug/vars" | jq -r '.corpus_culprit // ""')
    [ -n "${C_TRUTH[$name]}" ]
}

corpus_add() {
    MEMWATCH_SERVER=$CORPUS_SERVER "$CORPUS_CTL" add "$1" --pid "${C_PID[$1]}" \
        --endpoint "${C_URL[$1]}" >/dev/null
}

_c_phase_ms() {     # _c_phase_ms NAME PHASE: t= of the first "phase PHASE" line, or empty
    sed -n "s/^phase $2 t=\\([0-9][0-9]*\\).*/\\1/p" "${C_OUT[$1]}" 2>/dev/null | head -n 1
}

_c_rank() {
    case $1 in leaking) echo 3 ;; suspect) echo 2 ;; ok) echo 1 ;; warming) echo 0 ;; *) echo -1 ;; esac
}

_c_running() {      # the scenario has not been stopped (by us or by itself)
    [ -z "${C_STOP_MS[$1]:-}" ]
}

_c_stop() {         # _c_stop NAME WHY
    local name=$1 pid=${C_PID[$1]}
    _c_running "$name" || return 0
    C_STOP_MS[$name]=$(_c_now_ms)
    C_STOP_WHY[$name]=$2
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    _c_event "$name: stopped ($2)"
}

_c_is_leak() {
    [ "${C_TRUTH[$1]}" != none ]
}

# The judged span of a leak: [onset, end); end = cap, stop or (while running) infinity.
_c_end_ms() {
    local name=$1 e=${C_CAP_MS[$1]:-}
    if [ -n "${C_STOP_MS[$name]:-}" ] && { [ -z "$e" ] || [ "${C_STOP_MS[$name]}" -lt "$e" ]; }; then
        e=${C_STOP_MS[$name]}
    fi
    echo "${e:-}"
}

# _c_fetch_diff NAME KIND: the first site of the heap or goroutine profile diff since the
# onset, as "user.function<TAB>leaf.function" on stdout; 1 while there is none yet.
_c_fetch_diff() {
    local name=$1 kind=$2 path code f
    path=heap/diff
    [ "$kind" = goroutine ] && path=goroutines/diff
    f=$CORPUS_DIR/diff.$name.$kind.json
    code=$(curl -s --max-time 5 -o "$f" -w '%{http_code}' \
        "$CORPUS_SERVER/api/v1/targets/$name/$path?from=$(( C_ONSET_MS[$name] / 1000 ))&limit=10")
    [ "$code" = 200 ] || return 1
    jq -r '.sites[0] // empty | [.user.function, .leaf.function] | @tsv' "$f" | grep .
}

# One poll: verdicts of the running scenarios and the alerts, then the actions they call for.
_c_poll() {
    local now name state kind since since_ms code rank body line total kib pid prev
    local -a args=() codes=()
    local -A rss=()
    rm -f "$CORPUS_DIR"/v.*
    for name in "${CORPUS_NAMES[@]}"; do
        _c_running "$name" || continue
        args+=(-o "$CORPUS_DIR/v.$name" "$CORPUS_SERVER/api/v1/targets/$name/verdict")
    done
    rm -f "$CORPUS_DIR/alerts.json"
    # ALERTS: the alerts endpoint (pending and firing alerts, ?all=1 adds resolved ones).
    args+=(-o "$CORPUS_DIR/alerts.json" "$CORPUS_SERVER/api/v1/alerts?all=1")
    mapfile -t codes < <(curl -s --max-time 5 -w '%{http_code}\n' "${args[@]}")
    now=$(_c_now_ms)
    code=${codes[${#codes[@]} - 1]:-000}
    if [ "$code" != "$CORPUS_ALERTS_STATUS" ]; then
        [ -n "$CORPUS_ALERTS_STATUS" ] && _c_event "GET /api/v1/alerts now answers $code"
        CORPUS_ALERTS_STATUS=$code
    fi

    # Onsets and caps, as the programs announce them.
    for name in "${CORPUS_NAMES[@]}"; do
        _c_is_leak "$name" || continue
        [ -n "${C_ONSET_MS[$name]:-}" ] || C_ONSET_MS[$name]=$(_c_phase_ms "$name" leak-start)
        if [ -z "${C_CAP_MS[$name]:-}" ]; then
            C_CAP_MS[$name]=$(_c_phase_ms "$name" cap-reached)
            [ -n "${C_CAP_MS[$name]}" ] && _c_event "$name: cap reached"
        fi
    done

    # Verdicts.
    while IFS=$'\t' read -r name state kind since; do
        name=${name#v.}
        printf '%s\t%s\t%s\t%s\t%s\n' "$now" "$name" "$state" "$kind" "$since" >>"$CORPUS_DIR/verdicts.tsv"
        rank=$(_c_rank "$state")
        [ "$state" != "${C_LAST[$name]:-}" ] && _c_event "$name: $state${kind:+ ($kind)}"
        C_LAST[$name]=$state
        prev=${C_PREV_POLL[$name]:-0}
        C_PREV_POLL[$name]=$now
        if ! _c_is_leak "$name" || [ -z "${C_ONSET_MS[$name]:-}" ] || [ "$now" -lt "${C_ONSET_MS[$name]}" ]; then
            # a non-leak, or a leak before its onset: anything leaking is a false alarm
            [ "$rank" -gt "$(_c_rank "${C_WORST[$name]}")" ] && C_WORST[$name]=$state
            if [ "$state" = leaking ] && [ -z "${C_FA_MS[$name]:-}" ]; then
                C_FA_MS[$name]=$now
                _c_event "$name: FALSE ALARM ($kind)"
            fi
            continue
        fi
        [ -z "${C_CAP_MS[$name]}" ] || [ "$now" -lt "${C_CAP_MS[$name]}" ] || continue
        if [ "$state" = leaking ] && [ -z "${C_DET_MS[$name]:-}" ]; then
            # Detected at this poll, or at the verdict's "since" if that falls after the
            # previous poll (it is the named signal's, which may be an older "suspect" when
            # another signal made the verdict "leaking").
            since_ms=$(_c_sec_to_ms "$since")
            if [ "$since_ms" = - ] || [ "$since_ms" -gt "$now" ] ||
                [ "$since_ms" -le "$prev" ]; then
                since_ms=$now
            fi
            [ "$since_ms" -ge "${C_ONSET_MS[$name]}" ] || since_ms=${C_ONSET_MS[$name]}
            C_DET_MS[$name]=$since_ms C_DET_POLL_MS[$name]=$now C_DET_KIND[$name]=$kind
            C_DET_SIGNALS[$name]=$(jq -r '.signals // {} | to_entries |
                map("\(.key) \(.value)") | join(", ")' "$CORPUS_DIR/v.$name" 2>/dev/null)
        fi
    done < <(cd "$CORPUS_DIR" && for f in v.*; do [ -s "$f" ] && echo "$f"; done |
        xargs -r jq -r '[input_filename, (.state // "-"), (.kind // ""), (.since // "-")] | @tsv' 2>/dev/null)
    # Every verdict as it was, for the record: {"t": ms, "target": NAME, "verdict": {...}}.
    # shellcheck disable=SC2016 # $t is jq's
    (cd "$CORPUS_DIR" && for f in v.*; do [ -s "$f" ] && echo "$f"; done |
        xargs -r jq -c --argjson t "$now" '{t: $t, target: (input_filename | ltrimstr("v.")), verdict: .}' \
        >>"$CORPUS_DIR/verdicts.jsonl" 2>/dev/null)

    # Alerts: one line per alert and poll when the answer changed.
    if [ "$code" = 200 ] && [ -s "$CORPUS_DIR/alerts.json" ]; then
        body=$(cat "$CORPUS_DIR/alerts.json")
        if [ "$body" != "${_C_LAST_ALERTS:-}" ]; then
            _C_LAST_ALERTS=$body
            jq -r --arg now "$now" '.alerts[]? | [$now, .id, .target, .kind, .state,
                (.started // "-"), (.fired // "-"), (.culprits[0].function // "-"),
                (.culprits[0].leaf_function // "-")] | map(tostring) | @tsv' \
                <<<"$body" >>"$CORPUS_DIR/alerts.tsv" 2>/dev/null
        fi
        while read -r name; do
            [ -n "${C_SCEN[$name]:-}" ] && C_ALERT_FIRING[$name]=1
        done < <(jq -r '.alerts[]? | select(.state == "firing") | .target' <<<"$body" 2>/dev/null)
    fi

    # Culprits from the diff once detected; stop leaks that are done, capped or gone.
    for name in "${CORPUS_NAMES[@]}"; do
        _c_running "$name" || continue
        pid=${C_PID[$name]}
        if ! _c_alive "$pid"; then
            C_STOP_MS[$name]=$now C_STOP_WHY[$name]="exited by itself"
            wait "$pid" 2>/dev/null
            _c_event "$name: exited by itself"
            continue
        fi
        _c_is_leak "$name" || continue
        if [ -n "${C_CAP_MS[$name]:-}" ]; then
            _c_stop "$name" "cap reached"
            continue
        fi
        [ -n "${C_DET_MS[$name]:-}" ] || continue
        case ${C_TRUTH[$name]} in
        leak:heap | leak:goroutine)
            # The diff of the kind the verdict names (an alert would blame that kind's
            # sites), and of the true kind when that is another.
            kind=${C_DET_KIND[$name]}
            case $kind in heap | goroutine) ;; *) kind=${C_TRUTH[$name]#leak:} ;; esac
            if [ -z "${C_DIFF_FN[$name]:-}" ]; then
                C_DIFF_FN[$name]=$(_c_fetch_diff "$name" "$kind") || continue
            fi
            if [ "$kind" != "${C_TRUTH[$name]#leak:}" ] && [ -z "${C_DIFF2_FN[$name]:-}" ]; then
                C_DIFF2_FN[$name]=$(_c_fetch_diff "$name" "${C_TRUTH[$name]#leak:}") || continue
            fi ;;
        esac
        if [ "$CORPUS_ALERTS_STATUS" != 200 ] || [ -n "${C_ALERT_FIRING[$name]:-}" ] ||
            [ $((now - C_DET_POLL_MS[$name])) -ge $((CORPUS_GRACE_S * 1000)) ]; then
            _c_stop "$name" "detected"
        fi
    done

    # The memory guard: the scenarios' RSS together.
    for name in "${CORPUS_NAMES[@]}"; do
        _c_running "$name" && rss[$name]=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/${C_PID[$name]}/status" 2>/dev/null)
    done
    total=0
    for name in "${!rss[@]}"; do total=$((total + ${rss[$name]:-0})); done
    [ "$total" -gt "$CORPUS_PEAK_RSS_KIB" ] && CORPUS_PEAK_RSS_KIB=$total
    if [ "$total" -gt $((CORPUS_MAX_RSS_MIB * 1024)) ]; then
        line='' kib=0
        for name in "${!rss[@]}"; do
            _c_is_leak "$name" && [ "${rss[$name]:-0}" -gt "$kib" ] && line=$name kib=${rss[$name]}
        done
        [ -n "$line" ] && _c_stop "$line" "memory budget: the scenarios' RSS passed $CORPUS_MAX_RSS_MIB MiB"
    fi
}

# corpus_run DURATION_S: polls every second for DURATION_S.
corpus_run() {
    local end next now
    end=$(( $(_c_now_ms) + $1 * 1000 ))
    while :; do
        next=$(( $(_c_now_ms) + 1000 ))
        _c_poll
        now=$(_c_now_ms)
        [ "$now" -lt "$end" ] || break
        [ "$next" -gt "$now" ] && sleep "$(printf '%d.%03d' $(((next - now) / 1000)) $(((next - now) % 1000)))"
    done
    CORPUS_RUN_END_MS=$(_c_now_ms)
    _c_evaluate
}

# Culprits, alerts and the judged spans, once the polling is over.
_c_evaluate() {
    local name fn leaf src t kind state fired end
    for name in "${CORPUS_NAMES[@]}"; do
        end=$(_c_end_ms "$name")
        C_END_MS[$name]=${end:-$CORPUS_RUN_END_MS}
        # ALERTS: the first alert of the target seen firing: its fired time and first culprit.
        while IFS=$'\t' read -r t _ _ kind state _ fired fn leaf; do
            [ "$fired" = - ] && continue
            if [ -z "${C_ALERT_FIRED_MS[$name]:-}" ]; then
                C_ALERT_FIRED_MS[$name]=$(_c_sec_to_ms "$fired")
                C_ALERT_KIND[$name]=$kind
            fi
            if [ -z "${C_ALERT_FN[$name]:-}" ] && [ "$state" = firing ] && [ "$fn" != - ]; then
                C_ALERT_FN[$name]=$fn$'\t'$leaf
            fi
        done < <(awk -F'\t' -v n="$name" '$3 == n' "$CORPUS_DIR/alerts.tsv")
        # An alert that fired on a non-leak, or before a leak's onset.
        if [ -n "${C_ALERT_FIRED_MS[$name]:-}" ] && { ! _c_is_leak "$name" ||
            [ -z "${C_ONSET_MS[$name]:-}" ] || [ "${C_ALERT_FIRED_MS[$name]}" -lt "${C_ONSET_MS[$name]}" ]; }; then
            C_AFA[$name]=1
        fi
        case ${C_TRUTH[$name]} in leak:heap | leak:goroutine) ;; *) continue ;; esac
        if [ -n "${C_ALERT_FN[$name]:-}" ]; then
            src=alert fn=${C_ALERT_FN[$name]}
        elif [ "$CORPUS_ALERTS_STATUS" != 200 ] && [ -n "${C_DIFF_FN[$name]:-}" ]; then
            src=diff fn=${C_DIFF_FN[$name]}     # fallback while /api/v1/alerts is missing
        else
            src=- fn=
        fi
        leaf=${fn#*$'\t'} fn=${fn%%$'\t'*}
        C_CUL_FN[$name]=$fn C_CUL_SRC[$name]=$src C_CUL_OK[$name]=0
        if [ -n "$fn" ]; then
            for t in "$fn" "$leaf"; do
                if [ "$t" = "${C_CULPRIT[$name]}" ] ||
                    { [ -n "${CORPUS_ALSO_CULPRIT[${C_SCEN[$name]}]:-}" ] &&
                        [ "$t" = "${CORPUS_ALSO_CULPRIT[${C_SCEN[$name]}]}" ]; }; then
                    C_CUL_OK[$name]=1
                fi
            done
        fi
    done
}

corpus_stop_all() {
    local name
    for name in "${CORPUS_NAMES[@]}"; do
        _c_running "$name" && _c_stop "$name" "end of the run"
    done
    return 0
}

_c_s() {    # _c_s MS: seconds with one decimal
    awk -v m="$1" 'BEGIN { printf "%.1f", m / 1000 }'
}
_c_min1() { # _c_min1 MS: minutes at speed 1
    awk -v m="$1" -v s="$CORPUS_SPEED" 'BEGIN { printf "%.1f", m * s / 60000 }'
}

# corpus_report: per scenario, then the confusion matrix and the totals.  Sets C_RESULT and
# C_KIND_OK.
corpus_report() {
    local name truth det kind al cul notes tp=0 fn=0 tn=0 fp=0 leaks=0 kinds=0 culs=0 culn=0
    local fa=0 afa=0 rel ttd_list=() one_mb=() t
    printf '%-16s %-15s %-3s %-12s %-18s %-18s %-36s %s\n' scenario truth res kind \
        'detected after' 'alert fired after' 'first culprit' notes
    printf '%-16s %-15s %-3s %-12s %-18s %-18s %-36s %s\n' '' '' '' '' \
        's (min at 1x)' 's (min at 1x)' '' ''
    for name in "${CORPUS_NAMES[@]}"; do
        truth=${C_TRUTH[$name]} det=- kind=- al=- cul=- notes=
        if _c_is_leak "$name"; then
            leaks=$((leaks + 1))
            if [ -n "${C_DET_MS[$name]:-}" ]; then
                C_RESULT[$name]=TP; tp=$((tp + 1))
                rel=$((C_DET_MS[$name] - C_ONSET_MS[$name]))
                det="$(_c_s "$rel") ($(_c_min1 "$rel"))"
                ttd_list+=("$rel")
                case ${C_SCEN[$name]} in map-cache | slice-append) one_mb+=("$name:$rel") ;; esac
                kind=${C_DET_KIND[$name]}
                C_KIND_OK[$name]=0
                [ "$kind" = "${truth#leak:}" ] && C_KIND_OK[$name]=1
                t=$(tr ',' '\n' <<<"${C_DET_SIGNALS[$name]:-}" | awk '$2 == "leaking" { printf "%s%s", s, $1; s = "+" }')
                notes+="leaking via ${t:-?}; "
                if [ "${C_KIND_OK[$name]}" = 1 ]; then
                    kinds=$((kinds + 1)) kind="$kind ok"
                else
                    kind="$kind WRONG"
                    notes+="signals: ${C_DET_SIGNALS[$name]:-?}; "
                fi
            else
                C_RESULT[$name]=FN; fn=$((fn + 1))
                det="missed"
                notes+="worst state $(_c_worst_in "$name") in its span; "
            fi
            if [ -n "${C_ALERT_FIRED_MS[$name]:-}" ] && [ -n "${C_ONSET_MS[$name]:-}" ]; then
                rel=$((C_ALERT_FIRED_MS[$name] - C_ONSET_MS[$name]))
                al="$(_c_s "$rel") ($(_c_min1 "$rel"))"
            fi
            case $truth in
            leak:heap | leak:goroutine)
                culn=$((culn + 1))
                if [ -n "${C_CUL_FN[$name]:-}" ]; then
                    [ "${C_CUL_OK[$name]}" = 1 ] && { culs=$((culs + 1)); cul="ok "; } || cul="NO "
                    cul+="${C_CUL_FN[$name]} (${C_CUL_SRC[$name]})"
                else
                    cul="NO (none)"
                fi
                [ "${C_CUL_OK[$name]}" = 1 ] || notes+="expected ${C_CULPRIT[$name]}; "
                [ "${C_CUL_SRC[$name]}" = alert ] && [ -n "${C_DIFF_FN[$name]:-}" ] &&
                    notes+="diff says ${C_DIFF_FN[$name]%%$'\t'*}; "
                [ -n "${C_DIFF2_FN[$name]:-}" ] &&
                    notes+="${C_TRUTH[$name]#leak:} diff says ${C_DIFF2_FN[$name]%%$'\t'*}; "
                ;;
            esac
            if [ -n "${C_FA_MS[$name]:-}" ]; then
                fa=$((fa + 1))
                notes+="FALSE ALARM: leaking $(_c_s $((C_ONSET_MS[$name] - C_FA_MS[$name]))) s before the onset; "
            fi
            notes+="onset +$(_c_s $((C_ONSET_MS[$name] - C_START_MS[$name])))s"
            if [ -n "${C_CAP_MS[$name]:-}" ] && [ "${C_CAP_MS[$name]}" -le "${C_END_MS[$name]}" ]; then
                notes+=", capped +$(_c_s $((C_CAP_MS[$name] - C_ONSET_MS[$name])))s after it"
            elif [ -n "${C_STOP_WHY[$name]:-}" ]; then
                notes+=", stopped +$(_c_s $((C_STOP_MS[$name] - C_ONSET_MS[$name])))s after it (${C_STOP_WHY[$name]})"
            fi
        else
            if [ -n "${C_FA_MS[$name]:-}" ]; then
                C_RESULT[$name]=FP; fp=$((fp + 1)); fa=$((fa + 1))
                kind=$(_c_fa_kind "$name")
                notes+="FALSE ALARM at +$(_c_s $((C_FA_MS[$name] - C_START_MS[$name])))s ($(_c_phase_at "$name" "${C_FA_MS[$name]}")); "
            else
                C_RESULT[$name]=TN; tn=$((tn + 1))
            fi
            notes+="worst state ${C_WORST[$name]}"
            [ -n "${C_STOP_WHY[$name]:-}" ] && [ "${C_STOP_WHY[$name]}" != "end of the run" ] &&
                notes+=", ${C_STOP_WHY[$name]} at +$(_c_s $((C_STOP_MS[$name] - C_START_MS[$name])))s"
        fi
        if [ -n "${C_AFA[$name]:-}" ]; then
            afa=$((afa + 1))
            notes+="; ALERT fired on no leak (${C_ALERT_KIND[$name]})"
        fi
        printf '%-16s %-15s %-3s %-12s %-18s %-18s %-36s %s\n' "$name" "$truth" "${C_RESULT[$name]}" \
            "$kind" "$det" "$al" "$cul" "$notes"
    done
    echo
    echo "confusion matrix (targets; a leak counts as found if \"leaking\" between its onset and its end):"
    printf '  %-14s %16s %16s\n' '' 'verdict leaking' 'never leaking'
    printf '  %-14s %16d %16d\n' 'truth leak' "$tp" "$fn"
    printf '  %-14s %16d %16d\n' 'truth none' "$fp" "$tn"
    echo
    printf '  leaks found:       %d of %d\n' "$tp" "$leaks"
    printf '  false alarms:      %d (verdicts "leaking" on a non-leak or before the onset)%s\n' "$fa" \
        "$( [ "$CORPUS_ALERTS_STATUS" = 200 ] && printf '; alerts fired on no leak: %d' "$afa")"
    printf '  kind accuracy:     %d of %d leaks (%d found)\n' "$kinds" "$leaks" "$tp"
    printf '  culprit accuracy:  %d of %d heap and goroutine leaks (first culprit; from %s)\n' \
        "$culs" "$culn" "$( [ "$CORPUS_ALERTS_STATUS" = 200 ] && echo 'the alerts' ||
            echo "the profile diffs since the onset: GET /api/v1/alerts answered ${CORPUS_ALERTS_STATUS:-nothing}")"
    if [ ${#ttd_list[@]} -gt 0 ]; then
        t=$(printf '%s\n' "${ttd_list[@]}" | sort -n | awk '{ v[NR] = $1 } END {
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; print m, v[NR] }')
        printf '  time to detect:    median %s s (%s min at speed 1), max %s s (%s min at speed 1)\n' \
            "$(_c_s "${t% *}")" "$(_c_min1 "${t% *}")" "$(_c_s "${t#* }")" "$(_c_min1 "${t#* }")"
    fi
    for t in "${one_mb[@]}"; do
        name=${t%%:*} rel=${t#*:}
        printf '  1 MiB/s leak:      %s detected %s s after its onset (%s min at speed 1): %s the 3-minute target (180 s of the clock at speed %s)\n' \
            "$name" "$(_c_s "$rel")" "$(_c_min1 "$rel")" \
            "$( [ "$rel" -le 180000 ] && echo within || echo MISSES)" "$CORPUS_SPEED"
    done
    for name in "${CORPUS_NAMES[@]}"; do
        case ${C_SCEN[$name]} in
        map-cache | slice-append)
            [ -n "${C_DET_MS[$name]:-}" ] ||
                printf '  1 MiB/s leak:      %s NOT detected (judged for %s s after its onset): MISSES the 3-minute target\n' \
                    "$name" "$(_c_s $((C_END_MS[$name] - C_ONSET_MS[$name])))" ;;
        esac
    done
    printf '  corpus RSS peak:   %d MiB (all scenarios together)\n' $((CORPUS_PEAK_RSS_KIB / 1024))
}

_c_worst_in() {     # the worst verdict of a leak between its onset and its end
    awk -F'\t' -v n="$1" -v a="${C_ONSET_MS[$1]:-0}" -v b="${C_END_MS[$1]}" '
        BEGIN { r["warming"] = 0; r["ok"] = 1; r["suspect"] = 2; r["leaking"] = 3; w = "none"; wr = -1 }
        $2 == n && $1 >= a && $1 < b && ($3 in r) && r[$3] > wr { wr = r[$3]; w = $3 }
        END { print w }' "$CORPUS_DIR/verdicts.tsv"
}

_c_fa_kind() {      # the kind of a non-leak's first "leaking" verdict
    awk -F'\t' -v n="$1" '$2 == n && $3 == "leaking" { print $4; exit }' "$CORPUS_DIR/verdicts.tsv"
}

_c_phase_at() {     # _c_phase_at NAME MS: the program's last phase line at MS
    awk -v t="$2" '/^phase / { split($3, a, "="); if (a[2] + 0 <= t) p = $2 " " $4 } END { print p }' \
        "${C_OUT[$1]}"
}
