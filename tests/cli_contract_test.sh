#!/usr/bin/env bash
# The coapbed binary as scripts use it: exit codes 0/1/2, JSON on stdout only,
# "error: <rule> at byte <offset>" on stderr only.
set -u
bin="$1"
fail=0
check() {  # name expected_code expected_stdout_regex expected_stderr_regex -- args...
    local name="$1" want="$2" out_re="$3" err_re="$4"
    shift 5
    local out err code
    out=$("$bin" "$@" 2>/tmp/coapbed-cli-err.$$); code=$?
    err=$(cat /tmp/coapbed-cli-err.$$); rm -f /tmp/coapbed-cli-err.$$
    if [[ $code -ne $want ]] || ! [[ $out =~ $out_re ]] || ! [[ $err =~ $err_re ]]; then
        echo "FAIL $name: exit $code (want $want)"; echo " stdout: $out"; echo " stderr: $err"; fail=1
    else
        echo "ok   $name"
    fi
}
check decode-valid 0 '^\{"version":1,"type":"NON","code":"0\.02","code_name":"POST","mid":258,' '^$' -- decode 52 02 01 02 aa bb ff 01
check decode-malformed 1 '^$' '^error: token-past-end at byte 4$' -- decode "48 01 00 01 00"
check decode-badhex 2 '^$' 'usage: coapbed decode' -- decode zz
check decode-stdin 0 '"type":"RST"' '^$' -- decode - <<<"70 00 00 2a"
check uri-valid 0 '"uri":"coap://\[::1\]:61616/a/b\?c"' '^$' -- uri 'coap://[::1]:61616/a/b?c'
check uri-invalid 1 '^$' '^error: fragment-not-allowed at byte 10$' -- uri 'coap://h/x#y'
check usage 2 '^$' 'usage: coapbed COMMAND' --
check help 0 'decode HEX' '^$' -- --help
exit $fail
