/* test_abuseipdb.c - AbuseIPDB's check answers judged and classified (abuseipdb.c):
 * real response shapes, every category rule, the documented errors, the URL. */
#include <errno.h>
#include <string.h>

#include "abuseipdb.h"
#include "tap.h"
#include "verdict.h"

#define B(c) VERDICT_BIT(VERDICT_##c)

static struct provider_verdict judge(const char *ip, unsigned score, long status,
				     const char *body)
{
	struct provider_verdict v;
	struct ipaddr a;

	ipaddr_parse(&a, ip);
	abuseipdb_judge(&a, score, status, body, body ? strlen(body) : 0, &v);
	return v;
}

/* A real answer's shape: every field of data, as the API documents it. */
static const char *doc(char *buf, size_t n, const char *ip, int score, const char *usage,
		       const char *tor)
{
	snprintf(buf, n, "{\"data\":{\"ipAddress\":\"%s\",\"isPublic\":true,\"ipVersion\":4,"
		 "\"isWhitelisted\":false,\"abuseConfidenceScore\":%d,\"countryCode\":\"NL\","
		 "\"usageType\":%s,\"isp\":\"Example BV\",\"domain\":\"example.nl\","
		 "\"hostnames\":[],\"isTor\":%s,\"totalReports\":17,\"numDistinctUsers\":5,"
		 "\"lastReportedAt\":\"2026-11-30T10:11:12+00:00\"}}", ip, score, usage, tor);
	return buf;
}

static void test_classify(void)
{
	char b[1024];
	struct provider_verdict v;

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 0, "\"Fixed Line ISP\"",
					   "false"));
	is_int(v.outcome, PROVIDER_OK, "a clean answer is a verdict");
	is_int(v.mask, 0, "clean: no category");
	ok(strstr(v.facts, "\"abuseConfidenceScore\":0") && strstr(v.facts, "Fixed Line ISP"),
	   "facts carry score and usage: %s", v.facts);

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 0, "\"Data Center/Web "
					   "Hosting/Transit\"", "false"));
	is_int(v.mask, B(HOSTING), "Data Center/Web Hosting/Transit: hosting");

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 3, "\"Commercial\"",
					   "true"));
	is_int(v.mask, B(TOR), "isTor: tor");

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 75, "null", "false"));
	is_int(v.outcome, PROVIDER_OK, "usageType null is fine");
	is_int(v.mask, B(SCANNER), "score 75 >= the default 75: scanner");
	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 74, "null", "false"));
	is_int(v.mask, 0, "score 74: not a scanner");
	v = judge("192.0.2.1", 90, 200, doc(b, sizeof(b), "192.0.2.1", 89, "null", "false"));
	is_int(v.mask, 0, "scanner-score 90: 89 is not");
	v = judge("192.0.2.1", 50, 200, doc(b, sizeof(b), "192.0.2.1", 50, "null", "false"));
	is_int(v.mask, B(SCANNER), "scanner-score 50: 50 is");

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 100, "\"Data Center/Web "
					   "Hosting/Transit\"", "true"));
	is_int(v.mask, B(TOR) | B(HOSTING) | B(SCANNER), "all three together");

	for (const char *const *u = (const char *const[]){ "\"Commercial\"", "\"Mobile ISP\"",
		     "\"Content Delivery Network\"", "\"Search Engine Spider\"",
		     "\"University/College/School\"", "\"Reserved\"", NULL }; *u; u++) {
		v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.1", 0, *u, "false"));
		is_int(v.mask, 0, "usage " "type is not hosting");
	}

	v = judge("2001:db8::1", 0, 200, doc(b, sizeof(b), "2001:db8::1", 0,
					     "\"Data Center/Web Hosting/Transit\"", "false"));
	is_int(v.outcome, PROVIDER_OK, "IPv6 answer");
	is_int(v.mask, B(HOSTING), "IPv6 hosting");
}

static void test_shapes(void)
{
	char b[1024];
	struct provider_verdict v;

	v = judge("192.0.2.1", 0, 200, doc(b, sizeof(b), "192.0.2.9", 100, "null", "true"));
	is_int(v.outcome, PROVIDER_UNUSABLE, "an answer about another address is unusable");
	is_int(v.mask, 0, "and has no categories");
	v = judge("192.0.2.1", 0, 200, "{\"data\":[]}");
	is_int(v.outcome, PROVIDER_UNUSABLE, "data not an object: unusable");
	v = judge("192.0.2.1", 0, 200, "{}");
	is_int(v.outcome, PROVIDER_UNUSABLE, "no data: unusable");
	v = judge("192.0.2.1", 0, 200, "<html>oops</html>");
	is_int(v.outcome, PROVIDER_TROUBLE, "not JSON: trouble");
	v = judge("192.0.2.1", 0, 200, "");
	is_int(v.outcome, PROVIDER_TROUBLE, "empty: trouble");
	v = judge("192.0.2.1", 0, 200, "{\"data\":{\"ipAddress\":\"192.0.2.1\","
		  "\"abuseConfidenceScore\":\"100\",\"isTor\":\"yes\",\"usageType\":7}}");
	is_int(v.outcome, PROVIDER_OK, "wrong types: a verdict still");
	is_int(v.mask, 0, "wrong types count for nothing");
}

static void test_errors(void)
{
	struct provider_verdict v;

	v = judge("192.0.2.1", 0, 401, "{\"errors\":[{\"detail\":\"Authentication failed. Your "
		  "API key is either missing, incorrect, or revoked. Note: The APIv2 key differs "
		  "from the APIv1 key.\",\"status\":401}]}");
	is_int(v.outcome, PROVIDER_BAD_KEY, "401: bad key");
	ok(strstr(v.detail, "401") && strstr(v.detail, "Authentication failed"),
	   "detail says why: %s", v.detail);
	v = judge("192.0.2.1", 0, 422, "{\"errors\":[{\"detail\":\"The ip address must be a "
		  "valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).\","
		  "\"status\":422,\"source\":{\"parameter\":\"ipAddress\"}}]}");
	is_int(v.outcome, PROVIDER_INVALID_IP, "422: invalid ip");
	v = judge("192.0.2.1", 0, 429, "{\"errors\":[{\"detail\":\"Daily rate limit of 1000 "
		  "requests exceeded for this endpoint. See headers for additional details.\","
		  "\"status\":429}]}");
	is_int(v.outcome, PROVIDER_LIMIT, "429: quota used up");
	is_int(v.mask, 0, "no categories with an error");
	v = judge("192.0.2.1", 0, 500, "Internal Server Error");
	is_int(v.outcome, PROVIDER_TROUBLE, "500 plain text: trouble");
	v = judge("192.0.2.1", 0, 503, NULL);
	is_int(v.outcome, PROVIDER_TROUBLE, "503 without body: trouble");
	v = judge("192.0.2.1", 0, 400, "{\"errors\":\"x\"}");
	is_int(v.outcome, PROVIDER_TROUBLE, "another 4xx: trouble");
	v = judge("192.0.2.1", 0, 401, "{\"errors\":[{\"detail\":\"bad\x01\x7f\"}]}");
	ok(!strchr(v.detail, '\x01'), "control bytes are not logged");
	/* found by fuzz_providers: the service's own words in a detail or the facts */
	v = judge("192.0.2.1", 0, 200, "{\"data\":{\"ipAddress\":\"192.\xcb\xa2.0.2\"}}");
	ok(v.outcome == PROVIDER_UNUSABLE && !strchr(v.detail, '\xcb'),
	   "UTF-8 in a detail is made printable: %s", v.detail);
	v = judge("192.0.2.1", 0, 200, "{\"data\":{\"ipAddress\":\"192.0.2.1\","
		  "\"usageType\":\"Dat\x7f\xc3\xa9\"}}");
	ok(v.outcome == PROVIDER_OK && !strchr(v.facts, '\x7f') && !strchr(v.facts, '\xc3') &&
	   !strchr(v.detail, '\x7f'), "DEL and UTF-8 stay out of facts and detail: %s", v.facts);
}

static void test_url(void)
{
	char buf[256];
	struct ipaddr a;

	ipaddr_parse(&a, "192.0.2.1");
	ok(abuseipdb_url("https://api.abuseipdb.com", &a, buf, sizeof(buf)) > 0, "url");
	is_str(buf, "https://api.abuseipdb.com/api/v2/check?ipAddress=192.0.2.1&maxAgeInDays=90",
	       "the documented check request");
	ipaddr_parse(&a, "2001:db8::1");
	ok(abuseipdb_url("http://127.0.0.1:9", &a, buf, sizeof(buf)) > 0, "IPv6 url");
	is_str(buf, "http://127.0.0.1:9/api/v2/check?ipAddress=2001%3Adb8%3A%3A1&maxAgeInDays=90",
	       "an IPv6 address is escaped");
	is_int(abuseipdb_url("https://x", &a, buf, 20), -ENOSPC, "too small: -ENOSPC");
}

int main(void)
{
	test_classify();
	test_shapes();
	test_errors();
	test_url();
	return done_testing();
}
