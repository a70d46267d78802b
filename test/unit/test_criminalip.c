/* test_criminalip.c - criminalip.c (parse, classify, facts JSON, URL) on fixtures and
 * hand-made documents, then http.c and the backend against test/fake_criminalip.py, and
 * answers judged on the thread pool against the synchronous parse. */
#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <uv.h>

#include "criminalip.h"
#include "criminalip_backend.h"
#include "http.h"
#include "ipaddr.h"
#include "tap.h"

#define V(cat) VERDICT_BIT(VERDICT_##cat)
#define KEY "test-key-7f3a"

static char testdir[PATH_MAX];

/* The size cap of the tests' backends: the fake's "huge" bodies pass it. */
#define TEST_CAP (4u << 20)

/* criminalip_backend() with the settings the tests vary. */
static int backend_new(uv_loop_t *loop, const char *url, const char *key, long timeout_ms,
		       struct provider_backend *out)
{
	struct cip_settings set = { .url = url, .timeout_ms = timeout_ms, .max_body = TEST_CAP };

	return criminalip_backend(loop, &set, key, out);
}

static int find_testdir(void)
{
	const char *top = getenv("TOP_SRCDIR");
	char exe[PATH_MAX], probe[PATH_MAX + 64];
	const char *cands[4];
	ssize_t n;
	size_t i;

	if (top && *top) {
		snprintf(testdir, sizeof(testdir), "%s/test", top);
		return 0;
	}
	/* The binary is test/unit/test_criminalip in an in-tree build. */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	if (strrchr(exe, '/'))
		*strrchr(exe, '/') = '\0';
	cands[0] = exe;
	cands[1] = "test";
	cands[2] = "../test";
	cands[3] = "../../test";
	for (i = 0; i < 4; i++) {
		snprintf(probe, sizeof(probe), "%s%s/fake_criminalip.py", cands[i],
			 i == 0 ? "/.." : "");
		if (access(probe, R_OK) == 0) {
			snprintf(testdir, sizeof(testdir), "%s%s", cands[i], i == 0 ? "/.." : "");
			return 0;
		}
	}
	return -ENOENT;
}

static char *slurp(const char *name, size_t *len)
{
	char path[PATH_MAX + 64];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/fixtures/%s", testdir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

static enum provider_outcome parse_str(long http, const char *body, struct cip_facts *f)
{
	return criminalip_parse(http, body, strlen(body), f);
}

/* The document of doc/criminalip.md#an-example, and the other fixtures. */
static void test_fixtures(void)
{
	struct cip_facts f;
	size_t len = 0;
	char *doc = slurp("criminalip_example.json", &len);

	ok(doc != NULL, "fixture criminalip_example.json read from %s", testdir);
	if (!doc)
		return;
	is_int(criminalip_parse(200, doc, len, &f), PROVIDER_OK, "example: OK");
	is_int(f.flags, CIP_IS_VPN | CIP_IS_HOSTING | CIP_IS_ANONYMOUS_VPN | CIP_HAS_VPN_BLOCK |
	       CIP_OPENVPN_443, "example: flags");
	is_int(f.score_in, 3, "example: inbound Moderate");
	is_int(f.score_out, 2, "example: outbound Low");
	is_str(f.vpn_name, "privateinternetaccess", "example: vpn name");
	is_str(f.evidence, "tcp/443 app_name=OpenVPN 2022-10-09 11:02:07", "example: evidence");
	is_int(f.tcp443_open, 1, "example: tcp/443 open (a reason to probe)");
	is_int(criminalip_classify(&f), V(VPN) | V(OPENVPN443) | V(HOSTING),
	       "example: vpn + openvpn443 + hosting");
	/* The length is the length: one byte short loses the closing brace. */
	is_int(criminalip_parse(200, doc, len - 2, &f), PROVIDER_TROUBLE, "example cut by 2 bytes");
	is_int(criminalip_parse(200, doc, len / 2, &f), PROVIDER_TROUBLE, "example truncated");
	free(doc);

	doc = slurp("openvpn_banner.json", &len);
	ok(doc != NULL, "fixture openvpn_banner.json");
	if (doc) {
		is_int(criminalip_parse(200, doc, len, &f), PROVIDER_OK, "banner: OK (NUL in a string)");
		is_int(f.flags, CIP_OPENVPN_443, "banner: only openvpn443");
		ok(strncmp(f.evidence, "tcp/443 banner=p_control_hard_reset_server", 42) == 0 &&
		   strstr(f.evidence, " 2023-05-06 07:08:09"), "banner: evidence %s", f.evidence);
		is_int(f.score_in * 10 + f.score_out, 21, "banner: scores low / SAFE");
		is_int(criminalip_classify(&f), V(OPENVPN443), "banner: openvpn443");
		free(doc);
	}
	doc = slurp("wrong_types.json", &len);
	ok(doc != NULL, "fixture wrong_types.json");
	if (doc) {
		is_int(criminalip_parse(200, doc, len, &f), PROVIDER_OK, "wrong types: still OK");
		ok(f.flags == 0 && f.score_in == 0 && f.score_out == 0 && !f.vpn_name[0] &&
		   !f.evidence[0] && !f.tcp443_open, "wrong types: every field ignored");
		is_int(criminalip_classify(&f), 0, "wrong types: clean");
		free(doc);
	}
}

/* 2024-03-15 00:00:00 UTC: the shapes' ip_category entries are judged from then. */
#define SHAPES_NOW 1710460800

/* Issue 12: every shape the service really answers with (test/fixtures/shape_*.json). */
static void test_shapes(void)
{
	static const struct {
		const char *file, *ip;
		uint8_t mask;
		const char *facts;
	} cases[] = {
		{ "shape_iso_times.json", "203.0.113.40", V(OPENVPN443),
		  "tcp/443 app_name=OpenVPN 2024-03-01T10:20:30.250Z" },
		{ "shape_text_numbers.json", "203.0.113.41", V(OPENVPN443) | V(SCANNER),
		  "\"in\":\"Critical\"" },
		{ "shape_ip_category.json", "203.0.113.42", V(PROXY) | V(HOSTING),
		  "\"category\":{\"proxy\":\"2024-03-01 10:20:30\"}" },
		{ "shape_tags.json", "203.0.113.43", V(VPN) | V(HOSTING) | V(SCANNER),
		  "\"from_tags\"" },
		{ "shape_nulls.json", "203.0.113.44", V(VPN) | V(OPENVPN443),
		  "tcp/443 protocol=OpenVPN 2024-02-02 02:02:02" },
	};
	struct ipaddr ip;
	struct cip_ask ask = { .ip = &ip, .key = KEY, .now = SHAPES_NOW,
			       .max_stale_s = 30 * 86400 };
	struct cip_facts f;
	char facts[1024], detail[160];
	size_t i, len;
	char *doc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum provider_outcome o;

		doc = slurp(cases[i].file, &len);
		if (!ok(doc != NULL, "fixture %s", cases[i].file))
			continue;
		ipaddr_parse(&ip, cases[i].ip);
		o = criminalip_judge(&ask, 200, doc, len, &f, detail, sizeof(detail), NULL);
		criminalip_facts_json(&f, facts, sizeof(facts));
		if (!ok(o == PROVIDER_OK && criminalip_classify(&f) == cases[i].mask &&
			strstr(facts, cases[i].facts), "shape %s: categories %#x", cases[i].file,
			cases[i].mask))
			diag("outcome %d (%s), categories %#x, facts %s", o, detail,
			     criminalip_classify(&f), facts);
		free(doc);
	}
	/* ip_category: the age counts */
	doc = slurp("shape_ip_category.json", &len);
	if (doc) {
		ipaddr_parse(&ip, "203.0.113.42");
		ask.now = SHAPES_NOW + 60 * 86400;
		criminalip_judge(&ask, 200, doc, len, &f, NULL, 0, NULL);
		is_int(criminalip_classify(&f), V(HOSTING),
		       "ip_category: proxy older than max-stale no longer counts (hosting has no time)");
		ask.now = 0;
		criminalip_judge(&ask, 200, doc, len, &f, NULL, 0, NULL);
		is_int(criminalip_classify(&f), V(PROXY) | V(HOSTING) | V(TOR),
		       "ip_category: without a clock every entry counts");
		free(doc);
	}
	ok(parse_str(200, "{\"status\":200,\"ip_category\":[{\"type\":\"VPN\"},"
		     "{\"type\":\"scanner\"},{\"type\":[\"tor\"]},{\"type\":\"cdn\"},null]}", &f) ==
	   PROVIDER_OK && criminalip_classify(&f) == (V(VPN) | V(SCANNER)),
	   "ip_category as a bare list; types in any case; others ignored");
	ok(parse_str(200, "{\"status\":200,\"issues\":{\"is_tor\":true},"
		     "\"tags\":{\"is_vpn\":true}}", &f) == PROVIDER_OK &&
	   criminalip_classify(&f) == V(TOR), "tags only where issues is absent");
}

/* Issue 11: a report names the address asked, and says something about it. */
static void test_unusable(void)
{
	struct ipaddr ip;
	struct cip_ask ask = { .ip = &ip };
	struct cip_facts f;
	char detail[160];
	static const char other[] = "{\"status\":200,\"ip\":\"203.0.113.99\","
				    "\"issues\":{\"is_vpn\":false}}";
	static const char same6[] = "{\"status\":200,\"ip\":\"2001:DB8:0:0::1\","
				    "\"issues\":{\"is_vpn\":true}}";

	ipaddr_parse(&ip, "203.0.113.10");
	is_int(criminalip_judge(&ask, 200, "{\"status\":200}", 14, &f, detail, sizeof(detail),
				NULL), PROVIDER_UNUSABLE, "{\"status\":200}: unusable, not clean");
	ok(strstr(detail, "without") != NULL, "detail: %s", detail);
	is_int(criminalip_judge(&ask, 200, other, strlen(other), &f, detail, sizeof(detail), NULL),
	       PROVIDER_UNUSABLE, "a report for another address: unusable");
	ok(strstr(detail, "another address (203.0.113.99)") != NULL, "detail: %s", detail);
	ipaddr_parse(&ip, "203.0.113.99");
	is_int(criminalip_judge(&ask, 200, other, strlen(other), &f, NULL, 0, NULL), PROVIDER_OK,
	       "the same report for its own address: OK");
	ipaddr_parse(&ip, "2001:db8::1");
	is_int(criminalip_judge(&ask, 200, same6, strlen(same6), &f, NULL, 0, NULL), PROVIDER_OK,
	       "an IPv6 address written another way is the same address");
	static const char na[] = "{\"status\":200,\"ip\":\"N/A\",\"port\":{}}";
	static const char nul[] = "{\"status\":200,\"ip\":null,\"port\":{}}";

	is_int(criminalip_judge(&ask, 200, na, strlen(na), &f, NULL, 0, NULL), PROVIDER_UNUSABLE,
	       "an ip that is no address: unusable");
	is_int(criminalip_judge(&ask, 200, nul, strlen(nul), &f, NULL, 0, NULL), PROVIDER_OK,
	       "an ip of another type is ignored");
}

static int has_key_run(const char *text, const char *key)
{
	size_t klen = strlen(key), i, j;

	for (j = 0; j + 8 <= klen; j++)
		for (i = 0; text[i]; i++)
			if (strncasecmp(text + i, key + j, 8) == 0)
				return 1;
	return 0;
}

/* Issue 10: the key is redacted before the message is cut, in any case, and in runs. */
static void test_redact(void)
{
	static const char key[] = "Ab3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7pQ9rS1";
	char body[512], detail[160], buf[128];
	struct cip_ask ask = { .key = key };
	struct cip_facts f;
	char lower[sizeof(key)];
	size_t i;

	is_int(strlen(key), 60, "a key of 60 characters");
	snprintf(body, sizeof(body), "{\"status\":403,\"message\":\"bad key %s for this\"}", key);
	criminalip_judge(&ask, 403, body, strlen(body), &f, detail, sizeof(detail), NULL);
	ok(!has_key_run(detail, key), "the key echoed: no 8 of its characters logged (%s)", detail);
	for (i = 0; i < sizeof(key); i++)
		lower[i] = (char)tolower((unsigned char)key[i]);
	snprintf(body, sizeof(body), "{\"status\":403,\"message\":\"%s\"}", lower);
	criminalip_judge(&ask, 403, body, strlen(body), &f, detail, sizeof(detail), NULL);
	ok(!has_key_run(detail, key), "a lower-cased echo: redacted (%s)", detail);
	snprintf(body, sizeof(body), "{\"status\":403,\"message\":\"key %.10s... is invalid\"}",
		 key + 20);
	criminalip_judge(&ask, 403, body, strlen(body), &f, detail, sizeof(detail), NULL);
	ok(!has_key_run(detail, key) && strstr(detail, "is invalid"),
	   "10 characters of the key: redacted, the rest kept (%s)", detail);
	/* the report's ip is quoted in the detail of an unusable report (found by the fuzzer) */
	{
		struct ipaddr asked;
		struct cip_ask with_ip = { .ip = &asked, .key = key };

		ipaddr_parse(&asked, "203.0.113.7");
		snprintf(body, sizeof(body), "{\"status\":200,\"ip\":\"203.%s\",\"port\":{}}", key);
		ok(criminalip_judge(&with_ip, 200, body, strlen(body), &f, detail, sizeof(detail),
				    NULL) == PROVIDER_UNUSABLE && !has_key_run(detail, key),
		   "the key in the report's ip: redacted (%s)", detail);
	}
	snprintf(buf, sizeof(buf), "x %.7s y", key + 3);
	criminalip_redact(buf, strlen(buf), key);
	ok(strncmp(buf + 2, key + 3, 7) == 0, "7 characters are not a run of the key (%s)", buf);
	snprintf(buf, sizeof(buf), "abc");
	criminalip_redact(buf, 3, "aBc");
	is_str(buf, "***", "a short key is redacted whole");
}

static void test_times(void)
{
	static const struct { const char *text; int64_t ms; } good[] = {
		{ "2024-03-01 10:20:30", 1709288430000 },
		{ "2024-03-01T10:20:30Z", 1709288430000 },
		{ "2024-03-01t10:20:30z", 1709288430000 },
		{ "2024-03-01T10:20:30.5Z", 1709288430500 },
		{ "2024-03-01T10:20:30.123456Z", 1709288430123 },
		{ "2024-03-01T19:20:30+09:00", 1709288430000 },
		{ "2024-03-01T05:20:30-0500", 1709288430000 },
		{ "2024-03-01T12:20:30+02", 1709288430000 },
		{ "2024-03-01T10:20", 1709288400000 },
		{ "2024-03-01", 1709251200000 },
		{ "1970-01-01 00:00:00", 0 },
		{ "1969-12-31 23:59:59", -1000 },
	};
	static const char *const bad[] = {
		"", "N/A", "2024-3-1", "2024-03-01 10:20:30 UTC", "2024-13-01", "2024-03-32",
		"2024-03-01T25:00:00Z", "2024-03-01T10:20:30.Z", "2024-03-01T10:20:30+9",
		"2024/03/01", "20240301", "2024-03-01T", "2024-03-01 10:2",
	};
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(criminalip_time(good[i].text, strlen(good[i].text), &ms) == 0 &&
		   ms == good[i].ms, "time %s = %lld", good[i].text, (long long)good[i].ms);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(criminalip_time(bad[i], strlen(bad[i]), &ms) == -EINVAL, "time '%s' refused",
		   bad[i]);
}

static void test_issues_and_scores(void)
{
	static const struct { const char *name; uint32_t flag; uint8_t mask; } issues[] = {
		{ "is_vpn", CIP_IS_VPN, V(VPN) },
		{ "is_cloud", CIP_IS_CLOUD, V(HOSTING) },
		{ "is_tor", CIP_IS_TOR, V(TOR) },
		{ "is_proxy", CIP_IS_PROXY, V(PROXY) },
		{ "is_hosting", CIP_IS_HOSTING, V(HOSTING) },
		{ "is_mobile", CIP_IS_MOBILE, 0 },
		{ "is_darkweb", CIP_IS_DARKWEB, 0 },
		{ "is_scanner", CIP_IS_SCANNER, V(SCANNER) },
		{ "is_snort", CIP_IS_SNORT, 0 },
		{ "is_anonymous_vpn", CIP_IS_ANONYMOUS_VPN, V(VPN) },
	};
	static const struct { const char *val; uint8_t score; } scores[] = {
		{ "\"Safe\"", 1 }, { "\"Low\"", 2 }, { "\"Moderate\"", 3 }, { "\"Dangerous\"", 4 },
		{ "\"Critical\"", 5 }, { "\"cRITICAL\"", 5 }, { "\" dangerous \"", 4 },
		{ "1", 1 }, { "4", 4 }, { "5", 5 }, { "0", 0 }, { "6", 0 }, { "-3", 0 },
		{ "4.0", 0 }, { "\"Unknown\"", 0 }, { "\"N/A\"", 0 }, { "null", 0 },
		{ "\"4\"", 4 }, { "\" 5 \"", 5 }, { "\"4x\"", 0 }, { "true", 0 },
	};
	char doc[256];
	struct cip_facts f;
	size_t i;

	for (i = 0; i < sizeof(issues) / sizeof(issues[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"status\":200,\"issues\":{\"%s\":true,\"is_x\":true}}",
			 issues[i].name);
		is_int(parse_str(200, doc, &f), PROVIDER_OK, issues[i].name);
		ok(f.flags == issues[i].flag && criminalip_classify(&f) == issues[i].mask,
		   "%s -> flag %#x, categories %#x", issues[i].name, f.flags,
		   criminalip_classify(&f));
		snprintf(doc, sizeof(doc), "{\"status\":200,\"issues\":{\"%s\":false}}",
			 issues[i].name);
		ok(parse_str(200, doc, &f) == PROVIDER_OK && f.flags == 0, "%s false", issues[i].name);
	}
	for (i = 0; i < sizeof(scores) / sizeof(scores[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"status\":200,\"score\":{\"inbound\":%s,"
			 "\"outbound\":%s}}", scores[i].val, scores[i].val);
		ok(parse_str(200, doc, &f) == PROVIDER_OK && f.score_in == scores[i].score &&
		   f.score_out == scores[i].score, "score %s -> %u", scores[i].val,
		   scores[i].score);
		is_int(criminalip_classify(&f), scores[i].score >= 4 ? V(SCANNER) : 0,
		       "scanner only from inbound >= Dangerous");
	}
	ok(parse_str(200, "{\"status\":200,\"score\":{\"inbound\":\"Safe\","
		     "\"outbound\":\"Critical\"}}", &f) == PROVIDER_OK && criminalip_classify(&f) == 0,
	   "a Critical outbound score alone is not a scanner");
}

static void test_vpn_blocks(void)
{
	struct cip_facts f;

	ok(parse_str(200, "{\"status\":200,\"vpn\":{\"count\":2,\"data\":[{\"vpn_name\":\"N/A\"},"
		     "{\"vpn_name\":null},{\"vpn_name\":\" Unknown \"},{\"vpn_name\":\"\"},"
		     "{\"vpn_name\":\"nordvpn\"},{\"vpn_name\":\"expressvpn\"}]}}", &f) == PROVIDER_OK,
	   "vpn block: OK");
	is_int(f.flags, CIP_HAS_VPN_BLOCK, "vpn block: flag");
	is_str(f.vpn_name, "nordvpn", "vpn block: first name that is not a placeholder");
	is_int(criminalip_classify(&f), V(VPN), "vpn block: vpn");
	parse_str(200, "{\"status\":200,\"vpn\":{\"count\":0,\"data\":[]},"
		  "\"anonymous_vpn\":{\"count\":1,\"data\":[{\"vpn_name\":\"mullvad\"}]}}", &f);
	ok(f.flags == CIP_HAS_VPN_BLOCK && !strcmp(f.vpn_name, "mullvad") &&
	   criminalip_classify(&f) == V(VPN), "anonymous_vpn block alone: vpn");
	parse_str(200, "{\"status\":200,\"vpn\":{\"count\":3,\"data\":[]},"
		  "\"anonymous_vpn\":{\"count\":0,\"data\":[]}}", &f);
	ok(f.flags == 0 && criminalip_classify(&f) == 0, "empty data arrays: not vpn (count ignored)");
	parse_str(200, "{\"status\":200,\"vpn\":{\"data\":[{\"vpn_name\":\"N/A\"}]}}", &f);
	ok(f.flags == CIP_HAS_VPN_BLOCK && f.vpn_name[0] == '\0',
	   "placeholder-only block: vpn, no name");
	parse_str(200, "{\"status\":200,\"vpn\":{\"data\":[null, 3, \"x\"]}}", &f);
	is_int(f.flags, 0, "a data array without objects is not a block");
	parse_str(200, "{\"status\":200,\"vpn\":{\"data\":[{\"vpn_name\":\"a\\u0000b\\nc\\u00e9"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}}", &f);
	ok(strncmp(f.vpn_name, "a b c??xxx", 10) == 0 && strlen(f.vpn_name) == 63,
	   "vpn name: printable ASCII, cut to fit (%s)", f.vpn_name);
}

struct port_case {
	const char *name;
	const char *ports;
	int openvpn;
	const char *evidence;
};

static void test_ports(void)
{
	static const struct port_case cases[] = {
		{ "newest open HTTPS beats older OpenVPN",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\","
		  "\"confirmed_time\":\"2022-01-01 00:00:00\"},{\"open_port_no\":443,\"socket\":\"tcp\","
		  "\"port_status\":\"open\",\"protocol\":\"HTTPS\",\"confirmed_time\":\"2022-06-01 00:00:00\"}",
		  0, NULL },
		{ "newest entry closed",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\","
		  "\"confirmed_time\":\"2022-10-09 11:02:07\"},{\"open_port_no\":443,\"socket\":\"tcp\","
		  "\"port_status\":\"closed\",\"app_name\":\"OpenVPN\",\"confirmed_time\":\"2023-02-20 17:45:00\"}",
		  0, NULL },
		{ "newest open OpenVPN after closed ones",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"closed\",\"confirmed_time\":"
		  "\"2023-01-01 00:00:00\"},{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\","
		  "\"protocol\":\"OpenVPN\",\"app_name\":\"N/A\",\"confirmed_time\":\"2023-01-01 00:00:01\"}",
		  1, "tcp/443 protocol=OpenVPN 2023-01-01 00:00:01" },
		{ "an entry without a time is the oldest",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\"},"
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"protocol\":\"HTTPS\","
		  "\"confirmed_time\":\"2001-01-01 00:00:00\"}", 0, NULL },
		{ "a placeholder time is the oldest",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"protocol\":\"HTTPS\","
		  "\"confirmed_time\":\"2001-01-01 00:00:00\"},{\"open_port_no\":443,\"socket\":\"tcp\","
		  "\"port_status\":\"open\",\"app_name\":\"OpenVPN\",\"confirmed_time\":\"N/A\"}", 0, NULL },
		{ "only entry, no time",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"banner\":\"x openvpn y\"}",
		  1, "tcp/443 banner=x openvpn y" },
		{ "udp/443 does not count",
		  "{\"open_port_no\":443,\"socket\":\"udp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\"}",
		  0, NULL },
		{ "tcp/1194 does not count",
		  "{\"open_port_no\":1194,\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\"}",
		  0, NULL },
		{ "other ports newer than tcp/443 do not hide it",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"openvpn-as\","
		  "\"confirmed_time\":\"2020-01-01 00:00:00\"},{\"open_port_no\":443,\"socket\":\"udp\","
		  "\"port_status\":\"closed\",\"confirmed_time\":\"2024-01-01 00:00:00\"},{\"open_port_no\":80,"
		  "\"socket\":\"tcp\",\"port_status\":\"closed\",\"confirmed_time\":\"2024-01-01 00:00:00\"}",
		  1, "tcp/443 app_name=openvpn-as 2020-01-01 00:00:00" },
		{ "placeholders never match",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"protocol\":\"\","
		  "\"app_name\":\"N/A\",\"banner\":null,\"app_version\":\"Unknown\"}", 0, NULL },
		{ "HTTPS only (a VPN seen as HTTPS)",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"protocol\":\"HTTPS\","
		  "\"app_name\":\"nginx\",\"banner\":\"HTTP/1.1 200 OK\"}", 0, NULL },
		{ "hard reset described in a banner",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"open\",\"protocol\":\"Unknown\","
		  "\"banner\":\"opcode P_CONTROL_HARD_RESET_SERVER_V2\",\"confirmed_time\":\"2023-05-06 07:08:09\"}",
		  1, "tcp/443 banner=opcode P_CONTROL_HARD_RESET_SERVER_V2 2023-05-06 07:08:09" },
		{ "status Open, socket TCP (case)",
		  "{\"open_port_no\":443,\"socket\":\"TCP\",\"port_status\":\"Open\",\"protocol\":\"OPENVPN\"}",
		  1, "tcp/443 protocol=OPENVPN" },
		{ "port as a string counts",
		  "{\"open_port_no\":\"443\",\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\"}",
		  1, "tcp/443 app_name=OpenVPN" },
		{ "port as other text does not",
		  "{\"open_port_no\":\"443/tcp\",\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":\"OpenVPN\"}",
		  0, NULL },
		{ "missing port_status is open (a list of open ports)",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"app_name\":\"OpenVPN\"}", 1, NULL },
		{ "null port_status is open",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":null,\"app_name\":\"OpenVPN\"}",
		  1, NULL },
		{ "port_status filtered is not",
		  "{\"open_port_no\":443,\"socket\":\"tcp\",\"port_status\":\"filtered\",\"app_name\":\"OpenVPN\"}",
		  0, NULL },
		{ "nulls everywhere in an entry",
		  "{\"open_port_no\":null,\"socket\":null,\"port_status\":null,\"protocol\":null,"
		  "\"app_name\":null,\"banner\":null,\"confirmed_time\":null},null,[],{}", 0, NULL },
	};
	char doc[2048];
	struct cip_facts f;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"status\":200,\"port\":{\"count\":9,\"data\":[%s]}}",
			 cases[i].ports);
		ok(parse_str(200, doc, &f) == PROVIDER_OK &&
		   !!(f.flags & CIP_OPENVPN_443) == cases[i].openvpn &&
		   criminalip_classify(&f) == (cases[i].openvpn ? V(OPENVPN443) : 0),
		   "port history: %s", cases[i].name);
		if (cases[i].evidence)
			is_str(f.evidence, cases[i].evidence, "evidence");
	}
	/* A long banner is shown from the match on, cut to fit. */
	snprintf(doc, sizeof(doc), "{\"status\":200,\"port\":{\"data\":[{\"open_port_no\":443,"
		 "\"socket\":\"tcp\",\"port_status\":\"open\",\"banner\":\"%0300d OpenVPN server "
		 "%0300d\",\"confirmed_time\":\"2023-01-01 00:00:00\"}]}}", 0, 0);
	parse_str(200, doc, &f);
	ok(strncmp(f.evidence, "tcp/443 banner=OpenVPN server 0000", 34) == 0 &&
	   strstr(f.evidence, " 2023-01-01 00:00:00") && strlen(f.evidence) < sizeof(f.evidence),
	   "long banner evidence: %s", f.evidence);
}

static void test_errors(void)
{
	static const struct { long http; const char *body; enum provider_outcome want; } cases[] = {
		{ 401, "{\"status\":401,\"message\":\"invalid api key\"}", PROVIDER_BAD_KEY },
		{ 200, "{\"status\":401,\"message\":\" Invalid API Key \"}", PROVIDER_BAD_KEY },
		{ 401, "{\"status\":401,\"message\":\"something else\"}", PROVIDER_BAD_KEY },
		{ 401, "Unauthorized", PROVIDER_BAD_KEY },
		{ 401, "", PROVIDER_BAD_KEY },
		{ 200, "{\"status\":401}", PROVIDER_BAD_KEY },
		{ 200, "{\"status\":403,\"message\":\"limit exceeded\"}", PROVIDER_LIMIT },
		{ 429, "{\"status\":429,\"message\":\"Limit Exceeded\"}", PROVIDER_LIMIT },
		{ 503, "{\"status\":503,\"message\":\"limit exceeded\"}", PROVIDER_LIMIT },
		{ 429, "{\"status\":429,\"message\":\"unable to call api at the same time\"}", PROVIDER_BUSY },
		{ 200, "{\"status\":500,\"message\":\"Unable to call API at the same time\\n\"}", PROVIDER_BUSY },
		{ 200, "{\"status\":400,\"message\":\"Invalid IP Address.\"}", PROVIDER_INVALID_IP },
		{ 400, "{\"status\":400,\"message\":\"invalid ip address\"}", PROVIDER_INVALID_IP },
		{ 429, "{\"status\":429}", PROVIDER_TROUBLE },
		{ 429, "{\"status\":429,\"message\":\"too many requests\"}", PROVIDER_TROUBLE },
		{ 500, "{\"status\":500}", PROVIDER_TROUBLE },
		{ 503, "<html>Service Unavailable</html>", PROVIDER_TROUBLE },
		{ 502, "", PROVIDER_TROUBLE },
		{ 404, "{\"status\":404,\"message\":\"not found\"}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":500,\"message\":\"internal error\"}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":403,\"message\":\"forbidden\"}", PROVIDER_TROUBLE },
		{ 200, "{\"ip\":\"1.2.3.4\",\"issues\":{\"is_vpn\":true}}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":\"200\",\"issues\":{\"is_vpn\":true}}", PROVIDER_OK },
		{ 200, "{\"status\":\"500\",\"issues\":{\"is_vpn\":true}}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":\"401\"}", PROVIDER_BAD_KEY },
		{ 200, "{\"status\":200.0}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":null}", PROVIDER_TROUBLE },
		{ 500, "{\"status\":200,\"issues\":{\"is_vpn\":true}}", PROVIDER_TROUBLE },
		{ 204, "{\"status\":200}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":200,\"message\":42,\"score\":{}}", PROVIDER_OK },
		{ 200, "{\"status\":200,\"message\":\"api success\",\"port\":{}}", PROVIDER_OK },
		{ 200, "{\"status\":200,\"issues\":{}}", PROVIDER_OK },
		{ 200, "{\"status\":200,\"ip_category\":[]}", PROVIDER_OK },
		/* issue 11: no block the classifier reads is no verdict, not "clean" */
		{ 200, "{\"status\":200}", PROVIDER_UNUSABLE },
		{ 200, "{\"status\":200,\"message\":\"api success\"}", PROVIDER_UNUSABLE },
		{ 200, "{\"status\":200,\"ip\":\"1.2.3.4\",\"whois\":{\"data\":[]}}", PROVIDER_UNUSABLE },
		{ 200, "{\"status\":200,\"issues\":null,\"port\":\"N/A\",\"vpn\":3}", PROVIDER_UNUSABLE },
		{ 200, "not json", PROVIDER_TROUBLE },
		{ 200, "", PROVIDER_TROUBLE },
		{ 200, "[{\"status\":200}]", PROVIDER_TROUBLE },
		{ 200, "\"status\"", PROVIDER_TROUBLE },
		{ 200, "200", PROVIDER_TROUBLE },
		{ 200, "null", PROVIDER_TROUBLE },
		{ 200, "{\"status\":200,\"issues\":{\"is_vpn\":tr", PROVIDER_TROUBLE },
		{ 200, "{\"status\":200} {\"status\":200}", PROVIDER_TROUBLE },
		{ 200, "{\"status\":200,\"ip\":\"\xff\xfe\xed\xa0\x80\xc3\",\"tags\":{}}", PROVIDER_OK },
		{ 200, "{\"status\":200,\"ip\":\"x\"\xff}", PROVIDER_TROUBLE },
	};
	char detail[160];
	struct cip_facts f;
	size_t i;
	int refused;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum provider_outcome got = parse_str(cases[i].http, cases[i].body, &f);

		if (!ok(got == cases[i].want, "HTTP %ld %.60s -> %d", cases[i].http,
			cases[i].body, cases[i].want))
			diag("got %d", got);
	}
	ok(criminalip_parse(200, NULL, 0, &f) == PROVIDER_TROUBLE, "NULL body");
	ok(criminalip_parse(200, "{\"status\":200}\0garbage", 22, &f) == PROVIDER_TROUBLE,
	   "a NUL byte after the object");
	const char *v6err = "{\"status\":404,\"message\":\"IPv6 not\\u0007 supported\"}";

	is_int(criminalip_judge(NULL, 404, v6err, strlen(v6err), &f, detail, sizeof(detail), &refused),
	       PROVIDER_TROUBLE, "judge 404");
	ok(refused == 1, "a 4xx error object is a refusal");
	is_str(detail, "HTTP 404, status 404: IPv6 not  supported", "detail: sanitised message");
	criminalip_judge(NULL, 503, "{\"status\":503}", 14, &f, detail, sizeof(detail), &refused);
	ok(refused == 0, "a 5xx is not a refusal");
	v6err = "{\"status\":401,\"message\":\"invalid api key\"}";
	criminalip_judge(NULL, 401, v6err, strlen(v6err), &f, detail, sizeof(detail), &refused);
	is_str(detail, "HTTP 401, status 401: invalid api key", "detail: known message");
}

static void test_hostile(void)
{
	size_t n = 200000, i;
	char *deep = malloc(2 * n + 64);
	struct cip_facts f;
	int len;

	for (i = 0; i < n; i++)
		deep[i] = '[';
	for (i = 0; i < n; i++)
		deep[n + i] = ']';
	ok(criminalip_parse(200, deep, 2 * n, &f) == PROVIDER_TROUBLE, "200000 nested arrays");
	len = sprintf(deep, "{\"status\":200,\"x\":");
	for (i = 0; i < 1000; i++)
		deep[len++] = '[';
	for (i = 0; i < 1000; i++)
		deep[len++] = ']';
	len += sprintf(deep + len, ",\"issues\":{\"is_tor\":true}}");
	ok(criminalip_parse(200, deep, (size_t)len, &f) == PROVIDER_OK && f.flags == CIP_IS_TOR,
	   "1000 nested arrays in an unknown field are ignored");
	free(deep);
	ok(parse_str(200, "{\"status\":200,\"issues\":\"is_vpn\",\"score\":\"Critical\","
		     "\"vpn\":\"nordvpn\",\"anonymous_vpn\":[{\"vpn_name\":\"x\"}],"
		     "\"port\":{\"data\":{\"open_port_no\":443}}}", &f) == PROVIDER_OK &&
	   f.flags == 0 && f.score_in == 0, "strings and objects where others are expected");
	ok(parse_str(200, "{\"status\":200,\"issues\":null,\"score\":null,\"vpn\":null,"
		     "\"anonymous_vpn\":null,\"port\":null,\"whois\":null,\"ip\":null}", &f) ==
	   PROVIDER_UNUSABLE && f.flags == 0, "null everywhere: no report at all");
	ok(parse_str(200, "{\"status\":200,\"issues\":null,\"score\":null,\"vpn\":null,"
		     "\"anonymous_vpn\":null,\"port\":{\"data\":null},\"ip\":null}", &f) ==
	   PROVIDER_OK && f.flags == 0, "null everywhere but an empty port block");
	ok(parse_str(200, "{\"status\":200,\"score\":{\"inbound\":null,\"outbound\":{}},"
		     "\"vpn\":{\"data\":null},\"port\":{\"data\":[{\"open_port_no\":443,"
		     "\"socket\":\"tcp\",\"port_status\":\"open\",\"app_name\":[\"OpenVPN\"]}]}}",
		     &f) == PROVIDER_OK && f.flags == 0, "null and arrays inside blocks");
}

static void check_roundtrip(const struct cip_facts *a, const char *what)
{
	char buf[600];
	struct cip_facts b;
	int n = criminalip_facts_json(a, buf, sizeof(buf));

	ok(n > 0 && (size_t)n == strlen(buf) && criminalip_facts_from_json(buf, &b) == 0 &&
	   a->flags == b.flags && a->score_in == b.score_in && a->score_out == b.score_out &&
	   !strcmp(a->vpn_name, b.vpn_name) && !strcmp(a->evidence, b.evidence) &&
	   criminalip_classify(a) == criminalip_classify(&b), "facts round trip: %s", what);
}

static void test_facts_json(void)
{
	struct cip_facts f, g;
	char buf[600];
	size_t len;
	char *doc = slurp("criminalip_example.json", &len);
	int n, i;

	if (doc)
		criminalip_parse(200, doc, len, &f);
	free(doc);
	n = criminalip_facts_json(&f, buf, sizeof(buf));
	is_str(buf, "{\"v\":1,\"flags\":[\"is_vpn\",\"is_hosting\",\"is_anonymous_vpn\","
	       "\"has_vpn_block\",\"openvpn_443\"],\"in\":\"Moderate\",\"out\":\"Low\","
	       "\"vpn\":\"privateinternetaccess\",\"evidence\":\"tcp/443 app_name=OpenVPN "
	       "2022-10-09 11:02:07\"}", "facts JSON of the example");
	is_int(n, strlen(buf), "facts JSON length");
	check_roundtrip(&f, "example");
	is_int(criminalip_facts_json(&f, buf, (size_t)n), -ENOSPC, "one byte short: -ENOSPC");
	is_int(criminalip_facts_json(&f, buf, (size_t)n + 1), n, "exact size fits");
	memset(&f, 0, sizeof(f));
	criminalip_facts_json(&f, buf, sizeof(buf));
	is_str(buf, "{\"v\":1,\"flags\":[]}", "clean facts JSON");
	check_roundtrip(&f, "clean");
	f.flags = (1u << 12) - 1;
	f.score_in = 5;
	f.score_out = 4;
	memset(f.vpn_name, 'v', sizeof(f.vpn_name) - 1);
	memset(f.evidence, 'e', sizeof(f.evidence) - 1);
	check_roundtrip(&f, "everything set, longest strings");
	for (i = 0; i < 12; i++) {
		char what[32];

		memset(&f, 0, sizeof(f));
		f.flags = 1u << i;
		snprintf(what, sizeof(what), "flag bit %d", i);
		check_roundtrip(&f, what);
	}
	ok(criminalip_facts_from_json("{\"v\":1,\"flags\":[\"is_tor\",\"is_future\",3],"
				      "\"in\":4,\"new\":true}", &g) == 0 &&
	   g.flags == CIP_IS_TOR && g.score_in == 4, "unknown names and fields ignored");
	ok(criminalip_facts_from_json("{\"v\":2,\"flags\":[\"is_tor\"]}", &g) == -EINVAL &&
	   g.flags == 0, "another version is refused");
	is_int(criminalip_facts_from_json("not json", &g), -EINVAL, "not JSON is refused");
	is_int(criminalip_facts_from_json("[1]", &g), -EINVAL, "an array is refused");
	is_int(criminalip_facts_from_json(NULL, &g), -EINVAL, "NULL is refused");
}

static void test_url(void)
{
	struct ipaddr ip;
	char buf[256];
	int n;

	ipaddr_set_v4(&ip, 0xbcd66a5d); /* 188.214.106.93 */
	n = criminalip_url("https://api.criminalip.io", &ip, buf, sizeof(buf));
	is_str(buf, "https://api.criminalip.io/v1/asset/ip/report?ip=188.214.106.93&full=true",
	       "URL");
	is_int(n, strlen(buf), "URL length");
	criminalip_url("https://api.criminalip.io/", &ip, buf, sizeof(buf));
	is_str(buf, "https://api.criminalip.io/v1/asset/ip/report?ip=188.214.106.93&full=true",
	       "URL: trailing slash of the base dropped");
	criminalip_url("http://127.0.0.1:8080//", &ip, buf, sizeof(buf));
	is_str(buf, "http://127.0.0.1:8080/v1/asset/ip/report?ip=188.214.106.93&full=true",
	       "URL: several trailing slashes");
	ipaddr_parse(&ip, "2001:db8::1");
	criminalip_url("http://h", &ip, buf, sizeof(buf));
	is_str(buf, "http://h/v1/asset/ip/report?ip=2001:db8::1&full=true", "URL: IPv6");
	is_int(criminalip_url("http://h", &ip, buf, 20), -ENOSPC, "URL: -ENOSPC");
	ok(!strstr(buf, "key") && !strstr(buf, KEY), "URL: no key in it");
}

/* ---- http.c and the backend against test/fake_criminalip.py ---- */

struct fake {
	pid_t pid;
	int port;
	int out;
	char base[64];
};

static int fake_start(struct fake *fk)
{
	char path[PATH_MAX + 32], line[64];
	struct pollfd pfd;
	size_t n = 0;
	int p[2];

	snprintf(path, sizeof(path), "%s/fake_criminalip.py", testdir);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fk->pid = fork();
	if (fk->pid < 0)
		return -errno;
	if (fk->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		dup2(p[1], 1);
		execl("/usr/bin/python3", "python3", path, "--port", "0", "--key", KEY,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fk->out = p[0];
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (n < sizeof(line) - 1 && poll(&pfd, 1, 20000) > 0 && read(p[0], line + n, 1) == 1)
		if (line[n++] == '\n')
			break;
	line[n] = '\0';
	if (sscanf(line, "READY %d", &fk->port) != 1) {
		kill(fk->pid, SIGTERM);
		waitpid(fk->pid, NULL, 0);
		close(fk->out);
		return -EIO;
	}
	snprintf(fk->base, sizeof(fk->base), "http://127.0.0.1:%d", fk->port);
	return 0;
}

static void fake_stop(struct fake *fk)
{
	kill(fk->pid, SIGTERM);
	waitpid(fk->pid, NULL, 0);
	close(fk->out);
}

/* A blocking HTTP/1.1 call for the controls (the loop is not running meanwhile). */
static int ctl(const struct fake *fk, const char *method, const char *path, const char *body,
	       char *out, size_t outsize)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)fk->port) };
	struct timeval tv = { .tv_sec = 10 };
	static char resp[65536];
	char req[2048];
	size_t got = 0;
	ssize_t r;
	int fd, n, code = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto out;
	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", method,
		     path, body ? strlen(body) : 0, body ? body : "");
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		goto out;
	while (got < sizeof(resp) - 1 && (r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0)) > 0)
		got += (size_t)r;
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &code) != 1)
		code = -1;
	if (out)
		snprintf(out, outsize, "%s", strstr(resp, "\r\n\r\n") ? strstr(resp, "\r\n\r\n") + 4 : "");
out:
	if (fd >= 0)
		close(fd);
	return code;
}

static void fake_mode(const struct fake *fk, const char *json)
{
	if (ctl(fk, "POST", "/_control/mode", json, NULL, 0) != 200)
		diag("could not set mode %s", json);
}

/* A number from /_control/count: a top-level field, or per_ip's entry for ip. */
static long fake_count(const struct fake *fk, const char *field, const char *ip)
{
	char body[65536];
	json_t *o, *v;
	long n = -1;

	if (ctl(fk, "GET", "/_control/count", NULL, body, sizeof(body)) != 200)
		return -1;
	o = json_loads(body, 0, NULL);
	v = ip ? json_object_get(json_object_get(o, "per_ip"), ip) : json_object_get(o, field);
	if (json_is_integer(v))
		n = (long)json_integer_value(v);
	else if (ip)
		n = 0;
	json_decref(o);
	return n;
}

static void tick(uv_timer_t *t)
{
	(void)t;
}

/* Run the loop until *flag is set or ms pass. */
static int run_until(uv_loop_t *loop, const int *flag, unsigned ms)
{
	uv_timer_t guard;
	uint64_t end;

	uv_update_time(loop);
	end = uv_now(loop) + ms;
	uv_timer_init(loop, &guard);
	uv_timer_start(&guard, tick, 20, 20);
	while (!*flag && uv_now(loop) < end)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return *flag;
}

struct hres {
	int done;
	int err;
	long status;
	size_t len;
	char body[512];
};

static void http_cb(void *arg, int err, long status, const char *body, size_t len)
{
	struct hres *r = arg;

	r->done++;
	r->err = err;
	r->status = status;
	r->len = len;
	snprintf(r->body, sizeof(r->body), "%s", body ? body : "(null)");
}

static void set_flag(void *arg)
{
	++*(int *)arg;
}

static const char *const key_headers[] = { "x-api-key: " KEY, NULL };

/* One GET to completion; *r holds the outcome. */
static void get(struct http *h, uv_loop_t *loop, const char *url, const char *const *hdrs,
		long timeout_ms, struct hres *r)
{
	memset(r, 0, sizeof(*r));
	if (http_get(h, url, hdrs, timeout_ms, http_cb, r) < 0) {
		r->err = 1;
		return;
	}
	if (r->done) {
		r->err = 2; /* called from inside http_get */
		return;
	}
	run_until(loop, &r->done, 20000);
}

static void test_http(const struct fake *fk, uv_loop_t *loop)
{
	struct hres r, many[4];
	struct http *h;
	char url[256], report[256];
	long c0, c1;
	int i, closed = 0, all;
	uint64_t t0;

	is_int(http_new(loop, TEST_CAP, &h), 0, "http_new");
	snprintf(url, sizeof(url), "%s/_control/count", fk->base);
	snprintf(report, sizeof(report), "%s/v1/asset/ip/report?ip=203.0.113.17&full=true",
		 fk->base);
	get(h, loop, url, NULL, 5000, &r);
	ok(r.done == 1 && r.err == 0 && r.status == 200 && strstr(r.body, "\"total\""),
	   "GET: 200 and a body (err %d)", r.err);
	is_int(r.len, strlen(r.body), "GET: body length");
	get(h, loop, report, NULL, 5000, &r);
	ok(r.err == 0 && r.status == 401, "no key header: 401");
	get(h, loop, report, key_headers, 5000, &r);
	ok(r.err == 0 && r.status == 200 && strstr(r.body, "203.0.113.17"), "key header sent: 200");

	c0 = fake_count(fk, "connections", NULL);
	for (i = 0; i < 5; i++)
		get(h, loop, url, NULL, 5000, &r);
	c1 = fake_count(fk, "connections", NULL);
	is_int(c1 - c0, 1, "keep-alive: five GETs on one connection");

	memset(many, 0, sizeof(many));
	for (i = 0; i < 4; i++)
		http_get(h, report, key_headers, 5000, http_cb, &many[i]);
	is_int(http_pending(h), 4, "four transfers pending");
	for (i = 0, all = 0; i < 4; i++) {
		run_until(loop, &many[i].done, 10000);
		all += many[i].done == 1 && many[i].err == 0 && many[i].status == 200;
	}
	is_int(all, 4, "four transfers at once");
	is_int(http_pending(h), 0, "none pending after");

	snprintf(url, sizeof(url), "%s/_control/redirect", fk->base);
	get(h, loop, url, NULL, 5000, &r);
	ok(r.err == 0 && r.status == 302, "a redirect is not followed");
	snprintf(url, sizeof(url), "%s/nowhere", fk->base);
	get(h, loop, url, NULL, 5000, &r);
	ok(r.err == 0 && r.status == 404, "404 comes back as a status");
	get(h, loop, "ftp://127.0.0.1/x", NULL, 5000, &r);
	ok(r.done == 1 && r.err == -EIO, "ftp refused (%d)", r.err);
	get(h, loop, "file:///etc/hostname", NULL, 5000, &r);
	ok(r.done == 1 && r.err == -EIO, "file refused (%d)", r.err);
	is_int(http_get(h, NULL, NULL, 5000, http_cb, &r), -EINVAL, "no URL: -EINVAL");
	is_int(http_get(h, report, NULL, 0, http_cb, &r), -EINVAL, "no timeout: -EINVAL");
	{
		struct sockaddr_in sa = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sa);
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bind(fd, (struct sockaddr *)&sa, sizeof(sa));
		getsockname(fd, (struct sockaddr *)&sa, &sl);
		close(fd);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(sa.sin_port));
		get(h, loop, url, NULL, 5000, &r);
		is_int(r.err, -ECONNREFUSED, "closed port: -ECONNREFUSED");
	}

	fake_mode(fk, "{\"mode\":\"slow\",\"delay_ms\":3000,\"times\":1}");
	uv_update_time(loop);
	t0 = uv_now(loop);
	get(h, loop, report, key_headers, 300, &r);
	uv_update_time(loop);
	ok(r.err == -ETIMEDOUT && uv_now(loop) - t0 < 2000, "slow: -ETIMEDOUT after %llu ms",
	   (unsigned long long)(uv_now(loop) - t0));
	fake_mode(fk, "{\"mode\":\"huge\",\"size_mb\":5}");
	get(h, loop, report, key_headers, 10000, &r);
	is_int(r.err, -EMSGSIZE, "5 MiB with Content-Length: -EMSGSIZE");
	fake_mode(fk, "{\"mode\":\"huge\",\"size_mb\":5,\"chunked\":true}");
	get(h, loop, report, key_headers, 10000, &r);
	is_int(r.err, -EMSGSIZE, "5 MiB chunked: -EMSGSIZE");
	fake_mode(fk, "{\"mode\":\"huge\",\"size_mb\":3,\"chunked\":true}");
	get(h, loop, report, key_headers, 10000, &r);
	ok(r.err == 0 && r.len == 3u << 20, "3 MiB passes (%zu bytes)", r.len);
	fake_mode(fk, "{\"mode\":\"drop\"}");
	get(h, loop, report, key_headers, 5000, &r);
	is_int(r.err, -ECONNRESET, "dropped connection: -ECONNRESET");
	fake_mode(fk, "{\"mode\":\"reset_mid_body\"}");
	get(h, loop, report, key_headers, 5000, &r);
	is_int(r.err, -ECONNRESET, "reset in the middle of the body: -ECONNRESET");
	fake_mode(fk, "{\"mode\":\"http500\"}");
	get(h, loop, report, key_headers, 5000, &r);
	ok(r.err == 0 && r.status == 500, "500 comes back as a status");
	fake_mode(fk, "{\"mode\":\"normal\"}");

	/* Closing with transfers in flight: each is canceled once, synchronously. */
	fake_mode(fk, "{\"mode\":\"slow\",\"delay_ms\":2000}");
	memset(many, 0, sizeof(many));
	for (i = 0; i < 4; i++)
		http_get(h, report, key_headers, 5000, http_cb, &many[i]);
	run_until(loop, &closed, 200);
	http_close(h, set_flag, &closed);
	fake_mode(fk, "{\"mode\":\"normal\"}");
	for (i = 0, all = 0; i < 4; i++)
		all += many[i].done == 1 && many[i].err == -ECANCELED;
	is_int(all, 4, "close: four transfers canceled");
	ok(closed == 0, "close: closed() comes later");
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "close: closed() called once");
}

struct bres {
	int done;
	enum provider_outcome outcome;
	uint8_t mask;
	int has_facts;
	char facts[600];
	char detail[200];
};

static void fetch_cb(void *arg, const struct provider_result *res)
{
	struct bres *r = arg;

	r->done++;
	r->outcome = res->outcome;
	r->mask = res->mask;
	r->has_facts = res->facts_json != NULL;
	snprintf(r->facts, sizeof(r->facts), "%s", res->facts_json ? res->facts_json : "");
	snprintf(r->detail, sizeof(r->detail), "%s", res->detail ? res->detail : "");
}

static int start_fetch(struct provider_backend *be, const char *ip_text, struct bres *r)
{
	struct ipaddr ip;
	int err;

	memset(r, 0, sizeof(*r));
	if (ipaddr_parse(&ip, ip_text) < 0)
		return -EINVAL;
	err = be->fetch(be->impl, &ip, fetch_cb, r);
	if (!err && r->done)
		err = -EDEADLK; /* done from inside fetch */
	return err;
}

static int fetch(struct provider_backend *be, uv_loop_t *loop, const char *ip_text, struct bres *r)
{
	int err = start_fetch(be, ip_text, r);

	if (!err)
		run_until(loop, &r->done, 20000);
	return err;
}

static void test_profiles(const struct fake *fk, struct provider_backend *be, uv_loop_t *loop)
{
	static const struct {
		const char *ip;
		enum provider_outcome outcome;
		uint8_t mask;
		const char *facts;
	} cases[] = {
		{ "203.0.113.10", PROVIDER_OK, V(VPN), "\"vpn\":\"nordvpn\"" },
		{ "203.0.113.11", PROVIDER_OK, V(OPENVPN443), "tcp/443 app_name=OpenVPN 2022-10-09 11:02:07" },
		{ "203.0.113.12", PROVIDER_OK, V(HOSTING), "\"is_cloud\"" },
		{ "203.0.113.13", PROVIDER_OK, V(TOR), "\"is_tor\"" },
		{ "203.0.113.14", PROVIDER_OK, V(PROXY), "\"is_proxy\"" },
		{ "203.0.113.15", PROVIDER_OK, V(SCANNER), "\"in\":\"Dangerous\"" },
		{ "203.0.113.16", PROVIDER_OK, V(VPN) | V(HOSTING) | V(OPENVPN443), "expressvpn" },
		{ "203.0.113.17", PROVIDER_OK, 0, "{\"v\":1,\"flags\":[],\"in\":\"Safe\",\"out\":\"Safe\"}" },
		{ "203.0.113.18", PROVIDER_OK, 0, "\"flags\":[]" },
		{ "203.0.113.19", PROVIDER_OK, V(OPENVPN443), "P_CONTROL_HARD_RESET_SERVER" },
		{ "203.0.113.20", PROVIDER_OK, V(SCANNER), "\"in\":\"Critical\",\"out\":\"Safe\"" },
		{ "203.0.113.21", PROVIDER_OK, V(VPN), "\"vpn\":\"mullvad\"" },
		{ "203.0.113.22", PROVIDER_INVALID_IP, 0, NULL },
		{ "203.0.113.23", PROVIDER_OK, 0, "\"flags\":[]" },
		{ "198.51.100.11", PROVIDER_OK, V(OPENVPN443), "openvpn_443" },
		{ "198.51.100.16", PROVIDER_OK, V(VPN) | V(HOSTING) | V(OPENVPN443), "has_vpn_block" },
		{ "188.214.106.93", PROVIDER_OK, V(VPN) | V(HOSTING) | V(OPENVPN443), "privateinternetaccess" },
		{ "203.0.113.200", PROVIDER_OK, 0, "\"flags\":[]" },
		{ "192.0.2.1", PROVIDER_OK, 0, "\"flags\":[]" },
		{ "2001:db8::1", PROVIDER_INVALID_IP, 0, NULL },
	};
	struct bres r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int err = fetch(be, loop, cases[i].ip, &r);

		ok(!err && r.done == 1 && r.outcome == cases[i].outcome && r.mask == cases[i].mask &&
		   (cases[i].facts ? r.has_facts && strstr(r.facts, cases[i].facts) : !r.has_facts),
		   "fake %s -> outcome %d, categories %#x", cases[i].ip, cases[i].outcome,
		   cases[i].mask);
		if (r.outcome != cases[i].outcome || r.mask != cases[i].mask)
			diag("err %d, done %d, outcome %d, mask %#x, facts %s, detail %s", err,
			     r.done, r.outcome, r.mask, r.facts, r.detail);
	}
	is_int(fake_count(fk, NULL, "203.0.113.10"), 1, "one call per fetch");
}

static void test_backend_errors(const struct fake *fk, struct provider_backend *be,
				uv_loop_t *loop)
{
	static const struct {
		const char *mode;
		const char *ip;
		enum provider_outcome outcome;
		const char *detail;
	} cases[] = {
		{ "{\"mode\":\"badkey\"}", "203.0.113.10", PROVIDER_BAD_KEY, "invalid api key" },
		{ "{\"mode\":\"limit\"}", "203.0.113.10", PROVIDER_LIMIT, "limit exceeded" },
		{ "{\"mode\":\"limit\",\"http_status\":429,\"status\":429}", "203.0.113.10",
		  PROVIDER_LIMIT, NULL },
		{ "{\"mode\":\"error\",\"http_status\":200,\"status\":400,\"message\":"
		  "\"Invalid IP Address.\"}", "203.0.113.10", PROVIDER_INVALID_IP, NULL },
		{ "{\"mode\":\"error\",\"http_status\":403,\"message\":\"odd\"}", "203.0.113.10",
		  PROVIDER_TROUBLE, "odd" },
		{ "{\"mode\":\"error\",\"http_status\":403,\"message\":\"odd\"}", "2001:db8::5",
		  PROVIDER_INVALID_IP, NULL },
		{ "{\"mode\":\"error\",\"http_status\":503,\"message\":\"odd\"}", "2001:db8::5",
		  PROVIDER_TROUBLE, NULL },
		{ "{\"mode\":\"error\",\"http_status\":403,\"message\":\"" KEY "\"}", "203.0.113.10",
		  PROVIDER_TROUBLE, "status 403: *************" },
		{ "{\"mode\":\"http500\"}", "203.0.113.10", PROVIDER_TROUBLE, "HTTP 500" },
		{ "{\"mode\":\"malformed\"}", "203.0.113.10", PROVIDER_TROUBLE, "malformed" },
		/* too large is that address's problem, not the service's */
		{ "{\"mode\":\"huge\",\"size_mb\":5}", "203.0.113.10", PROVIDER_UNUSABLE, "larger" },
		{ "{\"mode\":\"huge\",\"size_mb\":5,\"chunked\":true}", "203.0.113.10", PROVIDER_UNUSABLE,
		  "larger" },
		{ "{\"mode\":\"drop\"}", "203.0.113.10", PROVIDER_TROUBLE, "reset" },
		{ "{\"mode\":\"reset_mid_body\"}", "203.0.113.10", PROVIDER_TROUBLE, "reset" },
		{ "{\"mode\":\"slow\",\"delay_ms\":3000}", "203.0.113.10", PROVIDER_TROUBLE, "timed out" },
		{ "{\"mode\":\"slow\",\"delay_ms\":3000,\"ips\":[\"203.0.113.99\"]}", "203.0.113.10",
		  PROVIDER_OK, NULL },
	};
	struct bres r, r2;
	size_t i;

	/* A request the client gave up on may still be running in the fake: wait. */
	for (i = 0; i < 100 && fake_count(fk, "inflight", NULL) != 0; i++)
		usleep(50000);
	fake_mode(fk, "{\"mode\":\"concurrent\"}");
	start_fetch(be, "203.0.113.12", &r);
	start_fetch(be, "203.0.113.14", &r2);
	run_until(loop, &r.done, 10000);
	run_until(loop, &r2.done, 10000);
	ok((r.outcome == PROVIDER_OK) + (r2.outcome == PROVIDER_OK) == 1 &&
	   (r.outcome == PROVIDER_BUSY) + (r2.outcome == PROVIDER_BUSY) == 1,
	   "two calls at once: one answered, one busy (%d, %d)", r.outcome, r2.outcome);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fake_mode(fk, cases[i].mode);
		fetch(be, loop, cases[i].ip, &r);
		ok(r.done == 1 && r.outcome == cases[i].outcome && !r.has_facts == (r.outcome != PROVIDER_OK) &&
		   (!cases[i].detail || strstr(r.detail, cases[i].detail)) && !strstr(r.detail, KEY),
		   "%s for %s -> %d", cases[i].mode, cases[i].ip, cases[i].outcome);
		if (r.outcome != cases[i].outcome)
			diag("outcome %d, detail %s", r.outcome, r.detail);
	}
	fake_mode(fk, "{\"mode\":\"slow\",\"delay_ms\":3000,\"times\":1}");
	fetch(be, loop, "203.0.113.13", &r);
	fetch(be, loop, "203.0.113.13", &r2);
	ok(r.outcome == PROVIDER_TROUBLE && r2.outcome == PROVIDER_OK && r2.mask == V(TOR),
	   "slow once, then the answer");
	fake_mode(fk, "{\"mode\":\"normal\"}");
}

static void test_backend(const struct fake *fk, uv_loop_t *loop)
{
	struct provider_backend be, be2;
	struct bres r;
	char body[65536];
	int closed = 0;

	is_int(backend_new(loop, fk->base, "", 1000, &be), -EINVAL, "empty key refused");
	is_int(backend_new(loop, fk->base, "ab\ncd", 1000, &be), -EINVAL,
	       "key with a newline refused");
	is_int(backend_new(loop, "ftp://127.0.0.1", KEY, 1000, &be), -EINVAL,
	       "ftp base refused");
	is_int(backend_new(loop, fk->base, KEY, 0, &be), -EINVAL, "zero timeout refused");

	is_int(backend_new(loop, fk->base, "wrong-key", 2000, &be), 0, "backend (wrong key)");
	fetch(&be, loop, "203.0.113.99", &r);
	ok(r.outcome == PROVIDER_BAD_KEY && !strstr(r.detail, "wrong-key"), "wrong key: BAD_KEY");
	be.close(be.impl, set_flag, &closed);
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "backend closed");

	/* The key file's newline is not part of the key. */
	is_int(backend_new(loop, fk->base, " " KEY "\n", 2000, &be), 0, "backend");
	test_profiles(fk, &be, loop);
	is_int(backend_new(loop, fk->base, KEY, 500, &be2), 0, "backend, 500 ms timeout");
	test_backend_errors(fk, &be2, loop);

	ok(ctl(fk, "GET", "/_control/requests", NULL, body, sizeof(body)) == 200 &&
	   strstr(body, "\"user_agent\": \"threatbl") && strstr(body, "\"accept\": \"application/json\"") &&
	   strstr(body, "\"full\": \"true\"") && !strstr(body, "\"user_agent\": \"curl"),
	   "requests carry User-Agent threatbl, Accept JSON and full=true");
	is_int(fake_count(fk, "key_in_url", NULL), 0, "the key never went into a URL");

	fake_mode(fk, "{\"mode\":\"slow\",\"delay_ms\":2000,\"times\":1}");
	closed = 0;
	start_fetch(&be, "203.0.113.11", &r);
	run_until(loop, &closed, 200);
	be.close(be.impl, set_flag, &closed);
	ok(r.done == 1 && r.outcome == PROVIDER_CANCELED, "close: fetch in flight canceled");
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "close: closed() called");
	closed = 0;
	be2.close(be2.impl, set_flag, &closed);
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "second backend closed");
}

/* ---- answers judged on the thread pool ---- */

/* A server for bodies the fake cannot send (exact bytes, raw non-UTF-8): a child that
 * answers every request with the bytes of a file the test rewrites between fetches. */
struct canned {
	pid_t pid;
	char path[64];
	char base[64];
};

static void canned_serve(int lfd, const char *path)
{
	static char buf[1 << 17];

	for (;;) {
		size_t got = 0;
		ssize_t n;
		FILE *f;
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0)
			continue;
		/* The request, up to its blank line (curl sends no body). */
		while (got < 8192 && (n = read(fd, buf + got, 8192 - got)) > 0) {
			got += (size_t)n;
			buf[got] = '\0';
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		f = fopen(path, "rb");
		while (f && (got = fread(buf, 1, sizeof(buf), f)) > 0)
			if (send(fd, buf, got, MSG_NOSIGNAL) < 0)
				break;
		if (f)
			fclose(f);
		close(fd);
	}
}

static int canned_start(struct canned *cs)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd, tmp;

	snprintf(cs->path, sizeof(cs->path), "/tmp/test_criminalip.XXXXXX");
	tmp = mkstemp(cs->path);
	if (tmp < 0)
		return -errno;
	close(tmp);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
		goto fail;
	snprintf(cs->base, sizeof(cs->base), "http://127.0.0.1:%u", ntohs(sa.sin_port));
	cs->pid = fork();
	if (cs->pid < 0)
		goto fail;
	if (cs->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		canned_serve(fd, cs->path);
		_exit(0);
	}
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(cs->path);
	return -EIO;
}

static void canned_stop(struct canned *cs)
{
	kill(cs->pid, SIGTERM);
	waitpid(cs->pid, NULL, 0);
	unlink(cs->path);
}

/* The next answer: HTTP status and body (len bytes, any bytes). */
static int canned_set(const struct canned *cs, long status, const char *body, size_t len)
{
	char tmp[80];
	FILE *f;
	int ok_ = 1;

	snprintf(tmp, sizeof(tmp), "%s.new", cs->path);
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	fprintf(f, "HTTP/1.1 %ld X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		"Connection: close\r\n\r\n", status, len);
	ok_ = fwrite(body, 1, len, f) == len;
	if (fclose(f) != 0 || !ok_ || rename(tmp, cs->path) < 0)
		return -EIO;
	return 0;
}

/* What the backend must report for an answer: the synchronous parse of the same bytes,
 * with the backend's two rules on top (IPv6 refusals, the key kept out of details). */
static void expect(long status, const char *body, size_t len, const char *ip, struct bres *e)
{
	struct ipaddr asked;
	struct cip_ask ask = { .ip = &asked, .key = KEY, .now = (int64_t)time(NULL) };
	struct cip_facts f;
	char detail[160];
	int refused = 0, n, v6 = strchr(ip, ':') != NULL;

	ipaddr_parse(&asked, ip);
	memset(e, 0, sizeof(*e));
	e->done = 1;
	e->outcome = criminalip_judge(&ask, status, body, len, &f, detail, sizeof(detail),
				      &refused);
	if (v6 && refused)
		e->outcome = PROVIDER_INVALID_IP;
	if (e->outcome == PROVIDER_OK) {
		e->mask = criminalip_classify(&f);
		n = criminalip_facts_json(&f, e->facts, sizeof(e->facts));
		e->has_facts = n >= 0;
		if (n < 0)
			e->facts[0] = '\0';
	}
	snprintf(e->detail, sizeof(e->detail), "%s", strstr(detail, KEY) ? "(detail withheld)"
		 : detail);
}

static int same(const struct bres *a, const struct bres *b)
{
	return a->done == b->done && a->outcome == b->outcome && a->mask == b->mask &&
	       a->has_facts == b->has_facts && strcmp(a->facts, b->facts) == 0 &&
	       strcmp(a->detail, b->detail) == 0;
}

static void diag_res(const char *what, const struct bres *r)
{
	diag("%s: done %d, outcome %d, mask %#x, facts %s, detail %s", what, r->done,
	     r->outcome, r->mask, r->has_facts ? r->facts : "(none)", r->detail);
}

/* body (len bytes) followed by pad spaces: the same JSON, larger. */
static char *padded(const char *body, size_t len, size_t pad, size_t *outlen)
{
	char *p = malloc(len + pad + 1);

	if (!p)
		return NULL;
	memcpy(p, body, len);
	memset(p + len, ' ', pad);
	p[len + pad] = '\0';
	*outlen = len + pad;
	return p;
}

/* One answer through the backend, compared with the synchronous parse of its bytes. */
static int check_same(const struct canned *cs, struct provider_backend *be, uv_loop_t *loop,
		      const char *ip, long status, const char *body, size_t len,
		      struct bres *got)
{
	struct bres want;

	expect(status, body, len, ip, &want);
	if (canned_set(cs, status, body, len) < 0 || fetch(be, loop, ip, got) < 0)
		return 0;
	if (same(got, &want))
		return 1;
	diag_res("backend", got);
	diag_res("synchronous", &want);
	return 0;
}

static void test_offthread_same(uv_loop_t *loop)
{
	static const struct { const char *name, *ip; } fixtures[] = {
		{ "criminalip_example.json", "188.214.106.93" },
		{ "openvpn_banner.json", "198.51.100.19" },
		{ "wrong_types.json", "188.214.106.93" },
	};
	static const struct {
		const char *ip;
		long status;
		const char *body;
		enum provider_outcome outcome;
	} errors[] = {
		{ "203.0.113.10", 200, "{\"status\":400,\"message\":\"Invalid IP Address.\"}",
		  PROVIDER_INVALID_IP },
		{ "203.0.113.10", 200, "{\"status\":403,\"message\":\"limit exceeded\"}", PROVIDER_LIMIT },
		{ "203.0.113.10", 429, "{\"status\":429,\"message\":\"unable to call api at the same "
		  "time\"}", PROVIDER_BUSY },
		{ "203.0.113.10", 401, "<html>no</html>", PROVIDER_BAD_KEY },
		{ "203.0.113.10", 403, "{\"status\":403,\"message\":\"odd " KEY "\"}", PROVIDER_TROUBLE },
		{ "2001:db8::5", 403, "{\"status\":403,\"message\":\"odd\"}", PROVIDER_INVALID_IP },
		{ "2001:db8::5", 503, "{\"status\":503,\"message\":\"odd\"}", PROVIDER_TROUBLE },
		{ "203.0.113.10", 200, "[1,2,3]", PROVIDER_TROUBLE },
	};
	struct canned cs;
	struct provider_backend be;
	struct bres r;
	char *doc, *big;
	size_t len, blen, i, pass;
	int closed = 0, all;

	if (!ok(canned_start(&cs) == 0, "canned server started"))
		return;
	if (!ok(backend_new(loop, cs.base, KEY, 5000, &be) == 0, "backend on it")) {
		canned_stop(&cs);
		return;
	}
	for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		doc = slurp(fixtures[i].name, &len);
		if (!ok(doc != NULL, "fixture %s", fixtures[i].name))
			continue;
		ok(check_same(&cs, &be, loop, fixtures[i].ip, 200, doc, len, &r),
		   "%s as is (%zu bytes): same as the synchronous parse",
		   fixtures[i].name, len);
		big = padded(doc, len, 64 * 1024, &blen);
		ok(big && check_same(&cs, &be, loop, fixtures[i].ip, 200, big, blen, &r) &&
		   r.outcome == PROVIDER_OK, "%s padded to %zu bytes (thread pool): same, OK",
		   fixtures[i].name, blen);
		if (i == 0)
			ok(r.mask == (V(VPN) | V(OPENVPN443) | V(HOSTING)) &&
			   strstr(r.facts, "privateinternetaccess") &&
			   strstr(r.facts, "tcp/443 app_name=OpenVPN 2022-10-09 11:02:07"),
			   "example from the pool: vpn + openvpn443 + hosting, with its facts");
		/* Cut short, then padded: malformed, from the pool. */
		if (big) {
			memset(big + len / 2, ' ', len - len / 2);
			ok(check_same(&cs, &be, loop, fixtures[i].ip, 200, big, blen, &r) &&
			   r.outcome == PROVIDER_TROUBLE && strstr(r.detail, "malformed"),
			   "%s truncated, padded: TROUBLE, malformed JSON", fixtures[i].name);
		}
		free(big);
		free(doc);
	}
	/* Raw bytes that are not UTF-8 in a large document: the pool mends its own copy. */
	doc = slurp("criminalip_example.json", &len);
	if (doc) {
		char *at = strstr(doc, "\"app_name\": \"OpenVPN\"");

		big = padded(doc, len, 32 * 1024, &blen);
		ok(at && big, "example has an app_name OpenVPN");
		if (at && big) {
			size_t off = (size_t)(at - doc) + strlen("\"app_name\": \"");

			memmove(big + off + 3, big + off, len - off);
			memcpy(big + off, "\xff\xc3(", 3);
			ok(check_same(&cs, &be, loop, "188.214.106.93", 200, big, blen, &r) &&
			   r.outcome == PROVIDER_OK && (r.mask & V(OPENVPN443)) &&
			   strstr(r.facts, "app_name=?" "?(OpenVPN"),
			   "invalid UTF-8 in a large document: mended, same as synchronous (%s)",
			   r.facts);
		}
		free(big);
		free(doc);
	}
	for (pass = 0; pass < 2; pass++) {
		for (i = 0, all = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
			len = strlen(errors[i].body);
			big = padded(errors[i].body, len, pass ? 8192 : 0, &blen);
			all += big && check_same(&cs, &be, loop, errors[i].ip, errors[i].status, big,
						 blen, &r) && r.outcome == errors[i].outcome &&
			       !strstr(r.detail, KEY);
			free(big);
		}
		ok(all == (int)(sizeof(errors) / sizeof(errors[0])),
		   "error answers %s: the outcome, same as synchronous, key withheld (%d)",
		   pass ? "padded to 8 KiB (thread pool)" : "as they come (inline)", all);
	}
	be.close(be.impl, set_flag, &closed);
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "canned backend closed");
	canned_stop(&cs);
}

/* A pool job that holds its thread until a byte arrives on fd. */
struct blocker {
	uv_work_t w;
	int fd;
	int *finished;
};

static void block_work(uv_work_t *w)
{
	struct blocker *bl = w->data;
	char c;

	while (read(bl->fd, &c, 1) < 0 && errno == EINTR)
		;
}

static void block_after(uv_work_t *w, int status)
{
	struct blocker *bl = w->data;

	(void)status;
	++*bl->finished;
}

/* main() sets UV_THREADPOOL_SIZE to this. */
#define POOL_THREADS 4

static void test_pool_close(const struct fake *fk, uv_loop_t *loop)
{
	struct blocker bl[POOL_THREADS];
	struct provider_backend be;
	struct bres r[3];
	int pfd[2], i, closed = 0, finished = 0, never = 0;

	if (!ok(pipe2(pfd, O_CLOEXEC) == 0, "pipe"))
		return;
	is_int(backend_new(loop, fk->base, KEY, 5000, &be), 0, "backend for close");
	/* Every pool thread busy: answers sent to the pool stay queued. */
	for (i = 0; i < POOL_THREADS; i++) {
		bl[i].w.data = &bl[i];
		bl[i].fd = pfd[0];
		bl[i].finished = &finished;
		uv_queue_work(loop, &bl[i].w, block_work, block_after);
	}
	start_fetch(&be, "203.0.113.200", &r[0]);  /* about 121 KB */
	start_fetch(&be, "192.0.2.1", &r[1]);      /* about 121 KB */
	start_fetch(&be, "203.0.113.22", &r[2]);   /* 56 bytes, an error: inline */
	run_until(loop, &r[2].done, 10000);
	for (i = 0; i < 100 && (fake_count(fk, NULL, "203.0.113.200") < 1 ||
				fake_count(fk, NULL, "192.0.2.1") < 1); i++)
		run_until(loop, &never, 50);
	run_until(loop, &never, 500);
	ok(r[2].done == 1 && r[2].outcome == PROVIDER_INVALID_IP,
	   "a small error answer is judged while the pool is busy");
	ok(r[0].done == 0 && r[1].done == 0, "large answers wait for the pool (%d, %d)",
	   r[0].done, r[1].done);
	be.close(be.impl, set_flag, &closed);
	ok(r[0].done == 1 && r[0].outcome == PROVIDER_CANCELED && r[1].done == 1 &&
	   r[1].outcome == PROVIDER_CANCELED, "close: queued answers canceled at once");
	ok(closed == 0, "close: closed() comes later");
	/* The queued jobs are taken off the pool: no thread has to free up for them. */
	run_until(loop, &closed, 5000);
	is_int(closed, 1, "close: closed() once, with the pool still busy");
	is_int(finished, 0, "the blockers still hold the pool");
	ok(write(pfd[1], "xxxxxxxx", POOL_THREADS) == POOL_THREADS, "release the pool");
	for (i = 0; i < 200 && finished < POOL_THREADS; i++)
		run_until(loop, &never, 20);
	is_int(finished, POOL_THREADS, "blockers done");
	ok(r[0].done == 1 && r[1].done == 1 && r[2].done == 1 && closed == 1,
	   "every done and closed() exactly once");
	close(pfd[0]);
	close(pfd[1]);
}

/* A document of about size bytes that takes jansson a while: many small objects. */
static char *slow_doc(size_t size, size_t *len)
{
	static const char head[] = "{\"status\":200,\"issues\":{\"is_tor\":true},\"domain\":"
				   "{\"data\":[";
	char *p = malloc(size + 64);
	size_t n;
	int i;

	if (!p)
		return NULL;
	n = (size_t)sprintf(p, "%s", head);
	for (i = 0; n + 80 < size; i++)
		n += (size_t)sprintf(p + n, "%s{\"domain\":\"host%d.example\",\"ip_type\":\"IPv4\"}",
				     i ? "," : "", i);
	n += (size_t)sprintf(p + n, "]}}");
	*len = n;
	return p;
}

/* Close while the pool is reading an answer: the job cannot be stopped, so the backend
 * must stay until its after-work callback has run. */
static void test_pool_close_running(uv_loop_t *loop)
{
	struct blocker bl[POOL_THREADS];
	struct provider_backend be;
	struct canned cs;
	struct bres r, want;
	uint64_t t0, t_closed;
	char *doc;
	size_t len = 0;
	int pfd[2], i, closed = 0, finished = 0, never = 0;

	doc = slow_doc(TEST_CAP - 4096, &len);
	if (!ok(doc && canned_start(&cs) == 0, "canned server for a slow document")) {
		free(doc);
		return;
	}
	expect(200, doc, len, "203.0.113.50", &want);
	ok(want.outcome == PROVIDER_OK && want.mask == V(TOR), "the slow document: OK, tor");
	canned_set(&cs, 200, doc, len);
	free(doc);
	if (!ok(pipe2(pfd, O_CLOEXEC) == 0, "pipe"))
		return;
	is_int(backend_new(loop, cs.base, KEY, 10000, &be), 0, "backend for it");
	for (i = 0; i < POOL_THREADS; i++) {
		bl[i].w.data = &bl[i];
		bl[i].fd = pfd[0];
		bl[i].finished = &finished;
		uv_queue_work(loop, &bl[i].w, block_work, block_after);
	}
	start_fetch(&be, "203.0.113.50", &r);
	run_until(loop, &never, 1000);  /* the body arrives and waits for the pool */
	ok(r.done == 0, "the answer waits for the pool");
	/* One thread free: it takes the answer, which is the only job queued. */
	ok(write(pfd[1], "x", 1) == 1, "one thread released");
	usleep(10000);
	uv_update_time(loop);
	t0 = uv_now(loop);
	be.close(be.impl, set_flag, &closed);
	ok(r.done == 1 && r.outcome == PROVIDER_CANCELED, "close: the answer being read is canceled");
	ok(closed == 0, "close: closed() waits");
	run_until(loop, &closed, 10000);
	uv_update_time(loop);
	t_closed = uv_now(loop);
	is_int(closed, 1, "close: closed() once the job came back");
	is_int(r.done, 1, "close: done once, the job's verdict dropped");
	diag("closed() %llu ms after close (the job's parse time if it was running)",
	     (unsigned long long)(t_closed - t0));
	ok(write(pfd[1], "xxxxxxxx", POOL_THREADS - 1) == POOL_THREADS - 1, "release the rest");
	for (i = 0; i < 200 && finished < POOL_THREADS; i++)
		run_until(loop, &never, 20);
	is_int(finished, POOL_THREADS, "blockers done");
	close(pfd[0]);
	close(pfd[1]);
	canned_stop(&cs);
}

/* Fetch each IP's document once with http.c and judge it synchronously. */
struct raw {
	int done;
	long status;
	char *body;
	size_t len;
};

static void raw_cb(void *arg, int err, long status, const char *body, size_t len)
{
	struct raw *r = arg;

	r->done = 1;
	r->status = err ? -1 : status;
	r->body = malloc(len + 1);
	if (r->body)
		memcpy(r->body, body, len);
	r->len = len;
}

static void test_many(const struct fake *fk, uv_loop_t *loop)
{
	enum { NIP = 40, ROUNDS = 3 };
	static char ips[NIP][32];
	struct bres want[NIP], got[NIP * ROUNDS];
	struct provider_backend be;
	struct http *h;
	char url[256];
	int i, n, all, started, closed = 0, once, canceled, never = 0;

	/* Large clean documents, the profiles, and an invalid one, mixed. */
	for (i = 0; i < NIP; i++) {
		if (i % 2 == 0)
			snprintf(ips[i], sizeof(ips[i]), "192.0.2.%d", 10 + i);
		else
			snprintf(ips[i], sizeof(ips[i]), "203.0.113.%d", 10 + (i / 2) % 14);
	}
	is_int(http_new(loop, CIP_MAX_BODY, &h), 0, "http for the raw documents");
	for (i = 0, all = 0; i < NIP; i++) {
		struct raw raw = { 0 };
		struct ipaddr ip;

		if (ipaddr_parse(&ip, ips[i]) < 0 || criminalip_url(fk->base, &ip, url, sizeof(url)) < 0)
			continue;
		if (http_get(h, url, key_headers, 10000, raw_cb, &raw) == 0)
			run_until(loop, &raw.done, 20000);
		if (raw.body && raw.status > 0) {
			expect(raw.status, raw.body, raw.len, ips[i], &want[i]);
			all++;
		}
		free(raw.body);
	}
	http_close(h, set_flag, &closed);
	run_until(loop, &closed, 5000);
	ok(all == NIP, "%d documents read (%d)", NIP, all);
	ok(want[0].outcome == PROVIDER_OK && want[0].mask == 0 && want[1].mask == V(VPN),
	   "expected: clean noise, vpn profile");

	is_int(backend_new(loop, fk->base, KEY, 20000, &be), 0, "backend for a crowd");
	for (i = 0, started = 0; i < NIP * ROUNDS; i++)
		started += start_fetch(&be, ips[i % NIP], &got[i]) == 0;
	ok(started == NIP * ROUNDS, "%d fetches at once (%d)", NIP * ROUNDS, started);
	for (i = 0; i < NIP * ROUNDS; i++)
		run_until(loop, &got[i].done, 30000);
	for (i = 0, all = 0; i < NIP * ROUNDS; i++) {
		n = same(&got[i], &want[i % NIP]);
		if (!n) {
			diag_res(ips[i % NIP], &got[i]);
			diag_res("synchronous", &want[i % NIP]);
		}
		all += n;
	}
	is_int(all, NIP * ROUNDS, "every concurrent fetch: done once, same as synchronous");

	/* Close in the middle of a crowd: some answers on the wire, some queued or being
	 * read on the pool, some handed over. Each done exactly once; closed() after all. */
	for (i = 0; i < NIP * ROUNDS; i++)
		start_fetch(&be, ips[i % NIP], &got[i]);
	for (i = 0; i < 40; i++) {
		run_until(loop, &never, 5);
		for (n = 0, all = 0; n < NIP * ROUNDS; n++)
			all += got[n].done;
		if (all >= NIP)
			break;
	}
	closed = 0;
	be.close(be.impl, set_flag, &closed);
	for (i = 0, once = 0, canceled = 0; i < NIP * ROUNDS; i++) {
		once += got[i].done == 1;
		canceled += got[i].outcome == PROVIDER_CANCELED;
	}
	is_int(once, NIP * ROUNDS, "close in a crowd: every fetch answered once at close");
	diag("%d of %d canceled at close", canceled, NIP * ROUNDS);
	run_until(loop, &closed, 10000);
	is_int(closed, 1, "close in a crowd: closed() once");
	for (i = 0, once = 0, all = 0; i < NIP * ROUNDS; i++) {
		once += got[i].done == 1;
		all += got[i].outcome == PROVIDER_CANCELED || same(&got[i], &want[i % NIP]);
	}
	is_int(once, NIP * ROUNDS, "close in a crowd: still once each after the pool drained");
	is_int(all, NIP * ROUNDS, "close in a crowd: each canceled or the right verdict");
}

static void test_network(void)
{
	struct fake fk;
	uv_loop_t loop;

	if (!ok(fake_start(&fk) == 0, "fake Criminal IP started"))
		return;
	uv_loop_init(&loop);
	test_http(&fk, &loop);
	test_backend(&fk, &loop);
	test_offthread_same(&loop);
	test_pool_close(&fk, &loop);
	test_pool_close_running(&loop);
	test_many(&fk, &loop);
	uv_run(&loop, UV_RUN_NOWAIT);
	is_int(uv_loop_close(&loop), 0, "every handle closed: the loop closes");
	fake_stop(&fk);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* Before the pool starts: test_pool_close fills every thread. */
	setenv("UV_THREADPOOL_SIZE", "4", 1);
	if (find_testdir() < 0) {
		ok(0, "test directory found (set TOP_SRCDIR)");
		return done_testing();
	}
	test_fixtures();
	test_shapes();
	test_unusable();
	test_redact();
	test_times();
	test_issues_and_scores();
	test_vpn_blocks();
	test_ports();
	test_errors();
	test_hostile();
	test_facts_json();
	test_url();
	test_network();
	return done_testing();
}
