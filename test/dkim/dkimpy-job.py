# dkimpy (Debian python3-dkim) driven by a JSON job on stdin, for test/dkim/interop.dkimpy.test.ts.
# {"records": {name: txt}, "verify": [b64 message], "sign": [{msg, selector, domain, key, canon, alg}]}
import base64, json, sys
import dkim

job = json.load(sys.stdin)
records = {k.rstrip('.').lower(): v for k, v in job.get('records', {}).items()}

def dnsfunc(name, timeout=5):
    n = name.decode('ascii').rstrip('.').lower()
    v = records.get(n)
    return v.encode('ascii') if v is not None else None

out = {'verify': [], 'sign': []}
for m in job.get('verify', []):
    msg = base64.b64decode(m)
    try:
        out['verify'].append(bool(dkim.verify(msg, dnsfunc=dnsfunc, minkey=1024)))
    except Exception as e:
        out['verify'].append(False)
for s in job.get('sign', []):
    msg = base64.b64decode(s['msg'])
    h, b = s['canon'].split('/')
    sig = dkim.sign(msg, s['selector'].encode(), s['domain'].encode(), s['key'].encode(),
                    canonicalize=(h.encode(), b.encode()), signature_algorithm=s['alg'].encode(),
                    include_headers=[x.encode() for x in s.get('include', ['from', 'to', 'subject', 'date', 'message-id'])])
    out['sign'].append(base64.b64encode(sig + msg).decode())
json.dump(out, sys.stdout)
