/**
 * A self-signed certificate for 127.0.0.1 (EC P-256, valid 2000-2100, CA:TRUE so it can be
 * trusted as its own CA), for https tests only. Generated once with:
 *   openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ...
 *   openssl ca -selfsign -startdate 20000101000000Z -enddate 21000101000000Z (SAN IP:127.0.0.1)
 * The key protects nothing: it is public in this repository.
 */

export const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIBATAKBggqhkjOPQQDAjAZMRcwFQYDVQQDDA5mcmFtZXJp
bmcgdGVzdDAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowGTEXMBUG
A1UEAwwOZnJhbWVyaW5nIHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQc
ilwSi8LW2ByGD7h85yuwIfTAitapld+JDNS3bfpZSeP8n1qdykwVSOJTXWn6tZLC
dayYB3hgqJGyQ9UL7NvXo1AwTjAPBgNVHREECDAGhwR/AAABMA8GA1UdEwEB/wQF
MAMBAf8wCwYDVR0PBAQDAgKEMB0GA1UdDgQWBBTU/Zx+oK9xXdXXbUlHtBdxP2sC
sjAKBggqhkjOPQQDAgNIADBFAiAiTl4ehCqmd8N6I/hTjIs2YQxz36cu7RaSs10B
PtQU+wIhAO3qBLkVBtvn+aOr3wa7y0SY4+gUFDVa5VfffBYVGC2j
-----END CERTIFICATE-----
`;

export const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4csZJBSYb9EojxGV
jbHW7oph0sNe5QdkeuNM11F8GRWhRANCAAQcilwSi8LW2ByGD7h85yuwIfTAitap
ld+JDNS3bfpZSeP8n1qdykwVSOJTXWn6tZLCdayYB3hgqJGyQ9UL7NvX
-----END PRIVATE KEY-----
`;
