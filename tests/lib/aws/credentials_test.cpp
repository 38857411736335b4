// The `aws:` block and where credentials and the region come from: each step
// of the order, the shared credentials file's INI text, and the errors.
#include "aws/credentials.h"

#include <catch2/catch.hpp>

#include <map>
#include <string>

#include "aws/s3.h"
#include "config/document.h"
#include "tests/lib/config/config_test_support.h"

namespace {

using config::testing::TempDir;
using Env = std::map<std::string, std::string, std::less<>>;

struct Read {
  aws::AwsSettings settings;
  std::string reports;
  std::set<std::string> secrets;
};

Read ReadBlock(const std::string& yaml, const std::filesystem::path& folder = "/srv/jobsd") {
  config::Diagnostics diagnostics;
  config::ConfigSource source("t.yaml", folder, diagnostics);
  config::YamlTree tree;
  const std::optional<config::YamlNode> root = config::ParseDocument(
      yaml, tree, source, [](const std::string& name) -> std::optional<std::string> {
        if (name == "AWS_KEY_ID") return "AKIDFROMVAR";
        return std::nullopt;
      });
  REQUIRE(root);
  Read out;
  {
    config::MapReader reader(*root, "jobs.j.aws", source);
    out.settings = aws::ReadAwsSettings(reader);
  }
  out.reports = diagnostics.ToString();
  out.secrets = source.secrets();
  return out;
}

aws::Environment EnvOf(Env variables) { return aws::Environment::FromMap(std::move(variables)); }

}  // namespace

TEST_CASE("aws block: every key", "[aws]") {
  TempDir dir;
  dir.Write("secret", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n");
  const Read read = ReadBlock(
      "region: us-east-2\naccess_key_id: ${AWS_KEY_ID}\nsecret_access_key_file: secret\n"
      "session_token: tok\nendpoint: http://127.0.0.1:9000/\n"
      "s3_endpoint: https://minio.example:9443\nca_file: ca.pem\n",
      dir.path());
  CHECK(read.reports == "");
  CHECK(read.settings.region == "us-east-2");
  CHECK(read.settings.access_key_id == "AKIDFROMVAR");
  CHECK(read.settings.secret_access_key == "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
  CHECK(read.settings.session_token == "tok");
  CHECK(read.settings.endpoint == "http://127.0.0.1:9000");
  CHECK(read.settings.s3_endpoint == "https://minio.example:9443");
  CHECK(read.settings.ca_file == dir.path() / "ca.pem");
  CHECK(read.secrets.count("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY") == 1);
  CHECK(read.secrets.count("tok") == 1);
}

TEST_CASE("aws block: problems", "[aws]") {
  struct Case {
    std::string yaml;
    std::string reports;
  };
  const std::vector<Case> cases = {
      {"region: us-east-2\n", ""},
      {"{}\n", ""},
      {"access_key_id: AKID\n",
       "t.yaml:1:16: jobs.j.aws.access_key_id: access_key_id and secret_access_key go together: "
       "secret_access_key is missing\n"},
      {"secret_access_key: s\n",
       "t.yaml:1:20: jobs.j.aws.secret_access_key: access_key_id and secret_access_key go "
       "together: access_key_id is missing\n"},
      {"session_token: t\n",
       "t.yaml:1:16: jobs.j.aws.session_token: needs access_key_id and secret_access_key\n"},
      {"access_key_id: a\nsecret_access_key: s\nprofile: p\n",
       "t.yaml:3:10: jobs.j.aws.profile: set either profile or access_key_id/secret_access_key, "
       "not both\n"},
      {"region: US East\n",
       "t.yaml:1:9: jobs.j.aws.region: expected a region like us-east-2, got 'US East'\n"},
      {"endpoint: ftp://x\n",
       "t.yaml:1:11: jobs.j.aws.endpoint: expected an http:// or https:// URL, got 'ftp://x'\n"},
      {"s3_endpoint: http://x/?a=b\n",
       "t.yaml:1:14: jobs.j.aws.s3_endpoint: an endpoint has no query string, got "
       "'http://x/?a=b'\n"},
      {"access_key_id: ''\nsecret_access_key: s\n",
       "t.yaml:1:16: jobs.j.aws.access_key_id: is empty (is the environment variable set?)\n"},
      {"regoin: us-east-2\n",
       "t.yaml:1:1: jobs.j.aws.regoin: unknown key 'regoin' (did you mean 'region'?)\n"},
  };
  for (const Case& c : cases) {
    INFO(c.yaml);
    CHECK(ReadBlock(c.yaml).reports == c.reports);
  }
}

TEST_CASE("credentials: the job's keys come first", "[aws]") {
  aws::AwsSettings settings;
  settings.access_key_id = "JOBKEY";
  settings.secret_access_key = "jobsecret";
  settings.session_token = "jobtoken";
  const auto credentials = aws::ResolveCredentials(
      settings, EnvOf({{"AWS_ACCESS_KEY_ID", "ENVKEY"}, {"AWS_SECRET_ACCESS_KEY", "envsecret"}}));
  REQUIRE(credentials);
  CHECK(credentials->access_key_id == "JOBKEY");
  CHECK(credentials->secret_access_key == "jobsecret");
  CHECK(credentials->session_token == "jobtoken");

  settings.secret_access_key.clear();
  const auto half = aws::ResolveCredentials(settings, EnvOf({}));
  REQUIRE_FALSE(half);
  CHECK_FALSE(half.error().retryable);
}

TEST_CASE("credentials: then the environment's keys", "[aws]") {
  TempDir dir;
  dir.Write("credentials", "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = f\n");
  Env env = {{"AWS_ACCESS_KEY_ID", "ENVKEY"},
             {"AWS_SECRET_ACCESS_KEY", "envsecret"},
             {"AWS_SESSION_TOKEN", "envtoken"},
             {"AWS_SHARED_CREDENTIALS_FILE", (dir.path() / "credentials").string()}};
  auto credentials = aws::ResolveCredentials({}, EnvOf(env));
  REQUIRE(credentials);
  CHECK(credentials->access_key_id == "ENVKEY");
  CHECK(credentials->secret_access_key == "envsecret");
  CHECK(credentials->session_token == "envtoken");

  SECTION("AWS_PROFILE does not override them (as with the CLI)") {
    env["AWS_PROFILE"] = "other";
    credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "ENVKEY");
  }
  SECTION("the job's profile does") {
    aws::AwsSettings settings;
    settings.profile = "default";
    credentials = aws::ResolveCredentials(settings, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "FILEKEY");
    CHECK(credentials->session_token == "");
  }
  SECTION("one without the other is an error naming the missing one") {
    env.erase("AWS_SECRET_ACCESS_KEY");
    credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE_FALSE(credentials);
    CHECK(credentials.error().message ==
          "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    CHECK(credentials.error().message.find("ENVKEY") == std::string::npos);
  }
  SECTION("empty variables count as unset") {
    env["AWS_ACCESS_KEY_ID"] = "";
    env["AWS_SECRET_ACCESS_KEY"] = "";
    credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "FILEKEY");
  }
}

TEST_CASE("credentials: then the shared credentials file", "[aws]") {
  TempDir dir;
  dir.Write(".aws/credentials",
            "# comment\n; another\n[default]\naws_access_key_id=DEFKEY\naws_secret_access_key = "
            "defsecret\n\n  [ backup ]  \n  AWS_Access_Key_ID :  BACKUPKEY  \n"
            "aws_secret_access_key = back#up\naws_session_token = backtoken\n"
            "[keyless]\nregion = us-east-1\n");
  Env env = {{"HOME", dir.path().string()}};

  SECTION("$HOME/.aws/credentials, profile default") {
    auto credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "DEFKEY");
    CHECK(credentials->secret_access_key == "defsecret");
  }
  SECTION("the job's profile, before AWS_PROFILE") {
    env["AWS_PROFILE"] = "default";
    aws::AwsSettings settings;
    settings.profile = "backup";
    auto credentials = aws::ResolveCredentials(settings, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "BACKUPKEY");
    CHECK(credentials->secret_access_key == "back#up");
    CHECK(credentials->session_token == "backtoken");
  }
  SECTION("AWS_PROFILE, before default") {
    env["AWS_PROFILE"] = "backup";
    auto credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "BACKUPKEY");
  }
  SECTION("AWS_SHARED_CREDENTIALS_FILE, with ~ for HOME") {
    dir.Write("elsewhere", "[default]\naws_access_key_id = ELSEKEY\naws_secret_access_key = e\n");
    env["AWS_SHARED_CREDENTIALS_FILE"] = "~/elsewhere";
    auto credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE(credentials);
    CHECK(credentials->access_key_id == "ELSEKEY");
  }
  SECTION("a profile that is not there") {
    aws::AwsSettings settings;
    settings.profile = "nope";
    auto credentials = aws::ResolveCredentials(settings, EnvOf(env));
    REQUIRE_FALSE(credentials);
    CHECK(credentials.error().message ==
          "AWS profile 'nope' (the job's aws.profile) is not in " + dir.path().string() +
              "/.aws/credentials (it has: backup, default, keyless)");
    CHECK_FALSE(credentials.error().retryable);
    env["AWS_PROFILE"] = "nope2";
    credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE_FALSE(credentials);
    CHECK_THAT(credentials.error().message,
               Catch::StartsWith("AWS profile 'nope2' (AWS_PROFILE) is not in"));
  }
  SECTION("a profile without keys") {
    env["AWS_PROFILE"] = "keyless";
    auto credentials = aws::ResolveCredentials({}, EnvOf(env));
    REQUIRE_FALSE(credentials);
    CHECK(credentials.error().message == "AWS profile 'keyless' in " + dir.path().string() +
                                             "/.aws/credentials has no aws_access_key_id");
  }
}

TEST_CASE("credentials: nothing anywhere says where it looked", "[aws]") {
  TempDir dir;
  auto credentials = aws::ResolveCredentials({}, EnvOf({{"HOME", dir.path().string()}}));
  REQUIRE_FALSE(credentials);
  CHECK(credentials.error().message ==
        "no AWS credentials found: not in the job's aws block, not in "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, and " +
            dir.path().string() + "/.aws/credentials does not exist");
  CHECK(credentials.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK_FALSE(credentials.error().retryable);

  dir.Write(".aws/credentials", "[other]\naws_access_key_id = K\naws_secret_access_key = S\n");
  credentials = aws::ResolveCredentials({}, EnvOf({{"HOME", dir.path().string()}}));
  REQUIRE_FALSE(credentials);
  CHECK_THAT(credentials.error().message, Catch::EndsWith("has no [default] profile"));

  credentials = aws::ResolveCredentials({}, EnvOf({}));
  REQUIRE_FALSE(credentials);
  CHECK_THAT(credentials.error().message,
             Catch::EndsWith("no credentials file to look in (neither "
                             "AWS_SHARED_CREDENTIALS_FILE nor HOME is set)"));

  aws::AwsSettings settings;
  settings.profile = "x";
  credentials = aws::ResolveCredentials(settings, EnvOf({{"HOME", "/nonexistent"}}));
  REQUIRE_FALSE(credentials);
  CHECK(credentials.error().message ==
        "AWS profile 'x' (the job's aws.profile): /nonexistent/.aws/credentials does not exist");
}

TEST_CASE("credentials file: INI parsing", "[aws]") {
  // A byte-order mark, CRLF, a section given twice, '=' inside a value.
  auto profiles = aws::ParseCredentialsFile(
      "\xef\xbb\xbf"
      "[a]\r\nk = v1\r\n[b]\nk=v2\n[a]\nk = v3\nother = x = y");
  REQUIRE(profiles);
  CHECK(profiles->at("a").values.at("k") == "v3");
  CHECK(profiles->at("a").values.at("other") == "x = y");
  CHECK(profiles->at("b").values.at("k") == "v2");

  struct Bad {
    std::string text;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"key = secretvalue\n", "line 1: a key before any [section]"},
           {"[a]\nsecretvalue\n", "line 2: expected 'key = value' or a [section]"},
           {"[a\n", "line 1: a section needs a ']'"},
           {"[ ]\n", "line 1: a section needs a name"},
           {"[a]\n = v\n", "line 2: a value without a key"},
       }) {
    INFO(bad.text);
    const auto parsed = aws::ParseCredentialsFile(bad.text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message == bad.message);
  }
  CHECK(aws::ParseCredentialsFile("")->empty());
}

TEST_CASE("region: the job's, then AWS_REGION, then AWS_DEFAULT_REGION", "[aws]") {
  aws::AwsSettings settings;
  settings.region = "eu-west-1";
  const Env both = {{"AWS_REGION", "us-west-2"}, {"AWS_DEFAULT_REGION", "ap-south-1"}};
  CHECK(*aws::ResolveRegion(settings, EnvOf(both)) == "eu-west-1");
  CHECK(*aws::ResolveRegion({}, EnvOf(both)) == "us-west-2");
  CHECK(*aws::ResolveRegion({}, EnvOf({{"AWS_DEFAULT_REGION", "ap-south-1"}})) == "ap-south-1");
  const auto none = aws::ResolveRegion({}, EnvOf({}));
  REQUIRE_FALSE(none);
  CHECK(none.error().message ==
        "no AWS region: set aws.region in the job, or AWS_REGION or AWS_DEFAULT_REGION");
  CHECK_FALSE(aws::ResolveRegion({}, EnvOf({{"AWS_REGION", "Not a region"}})));
}

TEST_CASE("Environment::FromProcess reads the process environment", "[aws]") {
  ::setenv("JOBSD_AWS_TEST_VARIABLE", "x", 1);
  const aws::Environment env = aws::Environment::FromProcess();
  CHECK(env.Get("JOBSD_AWS_TEST_VARIABLE") == "x");
  ::unsetenv("JOBSD_AWS_TEST_VARIABLE");
  CHECK_FALSE(env.Get("JOBSD_AWS_TEST_VARIABLE"));
}

TEST_CASE("S3OptionsFor: a job's block made into S3 options", "[aws]") {
  aws::AwsSettings settings;
  settings.s3_endpoint = "http://127.0.0.1:4568";
  settings.ca_file = "/etc/ca.pem";
  const Env env = {{"AWS_DEFAULT_REGION", "eu-central-1"},
                   {"AWS_ACCESS_KEY_ID", "K"},
                   {"AWS_SECRET_ACCESS_KEY", "S"}};
  const auto options = aws::S3OptionsFor(settings, EnvOf(env));
  REQUIRE(options);
  CHECK(options->region == "eu-central-1");
  CHECK(options->endpoint == "http://127.0.0.1:4568");
  CHECK(options->credentials.access_key_id == "K");
  CHECK(options->ca_file == std::filesystem::path("/etc/ca.pem"));
  CHECK(options->multipart_threshold == std::uint64_t(64) << 20);
  CHECK_FALSE(aws::S3OptionsFor(settings, EnvOf({{"AWS_ACCESS_KEY_ID", "K"}})));
}
