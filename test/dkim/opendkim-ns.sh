#!/bin/sh
# Runs inside `unshare --mount --net --pid --fork --kill-child` (see test/dkim/interop.opendkim.test.ts):
# loopback up, a private resolv.conf pointing at a dnsmasq on 127.0.0.1:53 serving the TXT records
# listed one per line in $1/records ("name,value"), then opendkim-testmsg on each job in $1/jobs.
# A job line is "verify FILE" or "sign FILE DOMAIN SELECTOR KEYFILE"; results go to FILE.out / FILE.rc.
set -u
DIR=$1
ip link set lo up
echo "nameserver 127.0.0.1" > "$DIR/resolv.conf"
mount --bind "$DIR/resolv.conf" /etc/resolv.conf
set --
while IFS= read -r rec; do set -- "$@" "--txt-record=$rec"; done < "$DIR/records"
/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --listen-address=127.0.0.1 \
  --bind-interfaces --port=53 --pid-file= --user=root --local=/example.com/ "$@" &
sleep 0.5
while read -r op file domain selector keyfile; do
  if [ "$op" = verify ]; then
    opendkim-testmsg -C < "$file" > "$file.out" 2>&1; echo $? > "$file.rc"
  else
    opendkim-testmsg -C -d "$domain" -s "$selector" -k "$keyfile" < "$file" > "$file.out" 2> "$file.err"; echo $? > "$file.rc"
  fi
done < "$DIR/jobs"
