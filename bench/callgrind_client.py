# N requests on one keep-alive connection, headers like the page's fetch (bench/callgrind.sh):
#   callgrind_client.py PORT PATH N [COOKIE_FILE]; prints the count of each status.
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = {"Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Accept": "*/*"}
if len(sys.argv) > 4 and sys.argv[4]:
    headers["Cookie"] = open(sys.argv[4]).read().strip()
c = http.client.HTTPConnection("127.0.0.1", port)
codes = {}
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    codes[r.status] = codes.get(r.status, 0) + 1
print(codes)
