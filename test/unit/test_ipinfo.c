/* test_ipinfo.c - ipinfo's privacy answers judged and classified (ipinfo.c): the
 * /IP/privacy shape and the full /IP shape with a privacy object, every flag, the
 * documented errors, the URL. */
#include <errno.h>
#include <string.h>

#include "ipinfo.h"
#include "tap.h"
#include "verdict.h"

#define B(c) VERDICT_BIT(VERDICT_##c)

static struct provider_verdict judge(long status, const char *body)
{
	struct provider_verdict v;

	ipinfo_judge(NULL, 0, status, body, body ? strlen(body) : 0, &v);
	return v;
}

static const char *priv(char *buf, size_t n, int vpn, int proxy, int tor, int relay,
			int hosting, const char *service)
{
	snprintf(buf, n, "{\"vpn\":%s,\"proxy\":%s,\"tor\":%s,\"relay\":%s,\"hosting\":%s,"
		 "\"service\":\"%s\"}", vpn ? "true" : "false", proxy ? "true" : "false",
		 tor ? "true" : "false", relay ? "true" : "false", hosting ? "true" : "false",
		 service);
	return buf;
}

static void test_classify(void)
{
	char b[512], full[1024];
	struct provider_verdict v;

	v = judge(200, priv(b, sizeof(b), 0, 0, 0, 0, 0, ""));
	is_int(v.outcome, PROVIDER_OK, "all false: a clean verdict");
	is_int(v.mask, 0, "no category");
	ok(!strstr(v.facts, "service"), "no service in the facts: %s", v.facts);
	v = judge(200, priv(b, sizeof(b), 1, 0, 0, 0, 0, "NordVPN"));
	is_int(v.mask, B(VPN), "vpn");
	ok(strstr(v.facts, "\"service\":\"NordVPN\"") != NULL, "the service is in the facts");
	ok(strstr(v.detail, "NordVPN") != NULL, "and in the detail");
	is_int(judge(200, priv(b, sizeof(b), 0, 1, 0, 0, 0, "")).mask, B(PROXY), "proxy");
	is_int(judge(200, priv(b, sizeof(b), 0, 0, 1, 0, 0, "")).mask, B(TOR), "tor");
	is_int(judge(200, priv(b, sizeof(b), 0, 0, 0, 1, 0, "")).mask, B(PROXY), "relay as proxy");
	is_int(judge(200, priv(b, sizeof(b), 0, 0, 0, 0, 1, "")).mask, B(HOSTING), "hosting");
	is_int(judge(200, priv(b, sizeof(b), 1, 1, 1, 1, 1, "x")).mask,
	       B(VPN) | B(PROXY) | B(TOR) | B(HOSTING), "all of them");

	snprintf(full, sizeof(full), "{\"ip\":\"192.0.2.1\",\"hostname\":\"x.example\","
		 "\"city\":\"Amsterdam\",\"country\":\"NL\",\"org\":\"AS1 Example\",\"privacy\":%s}",
		 priv(b, sizeof(b), 1, 0, 0, 0, 1, "ExpressVPN"));
	v = judge(200, full);
	is_int(v.outcome, PROVIDER_OK, "the full /IP answer");
	is_int(v.mask, B(VPN) | B(HOSTING), "its privacy object is read");
	ok(strstr(v.facts, "ExpressVPN") != NULL, "with its service");
}

static void test_shapes(void)
{
	struct provider_verdict v;

	v = judge(200, "{\"ip\":\"10.0.0.1\",\"bogon\":true}");
	is_int(v.outcome, PROVIDER_INVALID_IP, "a bogon: no verdict, invalid ip");
	v = judge(200, "{\"ip\":\"192.0.2.1\",\"city\":\"x\"}");
	is_int(v.outcome, PROVIDER_UNUSABLE, "no privacy flags (a plan without them): unusable");
	v = judge(200, "not json");
	is_int(v.outcome, PROVIDER_TROUBLE, "not JSON: trouble");
	v = judge(200, "{\"vpn\":\"true\",\"tor\":1}");
	is_int(v.outcome, PROVIDER_UNUSABLE, "flags of the wrong type are no flags");
	v = judge(200, "{\"vpn\":true}");
	is_int(v.outcome, PROVIDER_OK, "one flag is enough");
	is_int(v.mask, B(VPN), "and counts");
}

static void test_errors(void)
{
	struct provider_verdict v;

	v = judge(403, "{\"status\":403,\"error\":{\"title\":\"Unknown token\",\"message\":"
		  "\"Please ensure you've entered your token correctly.\"}}");
	is_int(v.outcome, PROVIDER_BAD_KEY, "403 unknown token: bad key");
	ok(strstr(v.detail, "Unknown token") != NULL, "detail: %s", v.detail);
	v = judge(429, "{\"status\":429,\"error\":{\"title\":\"Rate limit exceeded\",\"message\":"
		  "\"You've hit the daily limit for the unauthenticated API.\"}}");
	is_int(v.outcome, PROVIDER_LIMIT, "429 JSON: limit");
	v = judge(429, "Too Many Requests");
	is_int(v.outcome, PROVIDER_LIMIT, "429 plain text: limit");
	ok(strstr(v.detail, "Too Many Requests") != NULL, "its text in the detail");
	v = judge(404, "{\"status\":404,\"error\":{\"title\":\"Wrong ip\",\"message\":"
		  "\"Please provide a valid IP address\"}}");
	is_int(v.outcome, PROVIDER_INVALID_IP, "404 wrong ip: invalid ip");
	v = judge(502, "<html>Bad Gateway</html>");
	is_int(v.outcome, PROVIDER_TROUBLE, "502: trouble");
	is_int(v.mask, 0, "errors carry no category");
}

static void test_url(void)
{
	char buf[128];
	struct ipaddr a;

	ipaddr_parse(&a, "192.0.2.1");
	is_int(ipinfo_url("https://ipinfo.io", &a, buf, sizeof(buf)),
	       (int)strlen("https://ipinfo.io/192.0.2.1/privacy"), "url: its length");
	is_str(buf, "https://ipinfo.io/192.0.2.1/privacy", "the privacy request, no token");
	ipaddr_parse(&a, "2001:db8::1");
	ok(ipinfo_url("https://ipinfo.io", &a, buf, sizeof(buf)) > 0, "IPv6 url");
	is_str(buf, "https://ipinfo.io/2001:db8::1/privacy", "IPv6 in the path");
	is_int(ipinfo_url("https://ipinfo.io", &a, buf, 10), -ENOSPC, "too small: -ENOSPC");
}

int main(void)
{
	test_classify();
	test_shapes();
	test_errors();
	test_url();
	return done_testing();
}
