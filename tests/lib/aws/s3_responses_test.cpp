// The XML reader and what S3Client reads with it: error documents into
// messages and retry decisions, ListObjectsV2 pages, multipart results;
// table-driven where the input is text.
#include "aws/s3_responses.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "aws/s3.h"
#include "aws/xml.h"

TEST_CASE("XML: elements, text, entities", "[aws]") {
  const auto root = aws::ParseXml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n"
      "<s3:Root xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1'>"
      "<Key>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;&#xe9;&#x1F600;</Key>"
      "<Empty/><Empty />"
      "<Nested><Key>inner</Key></Nested>"
      "<Data><![CDATA[<not> &amp; parsed]]></Data>"
      "<!-- inside --><Key>second</Key>"
      "</s3:Root>\n");
  REQUIRE(root);
  CHECK(root->name == "Root");
  CHECK(root->ChildText("Key") == "a & b <c> \"d\" 'e' AB\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(root->Children("Empty").size() == 2);
  CHECK(root->Child("Empty")->text == "");
  CHECK(root->Child("Nested")->ChildText("Key") == "inner");
  CHECK(root->ChildText("Data") == "<not> &amp; parsed");
  CHECK(root->Children("Key").size() == 2);
  CHECK(root->ChildText("Missing") == "");
  CHECK(root->Child("Missing") == nullptr);
}

TEST_CASE("XML: truncated and malformed documents are clear errors", "[aws]") {
  struct Case {
    std::string document;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", "truncated XML: the document is empty"},
      {"  \n", "truncated XML: the document is empty"},
      {"<a><b>text</b>", "truncated XML: the document ends inside <a>"},
      {"<a><b>te", "truncated XML: the document ends inside <b>"},
      {"<a", "truncated XML: the document ends inside a tag"},
      {"<a x=\"1", "truncated XML: the document ends inside an attribute value"},
      {"<a>&am", "truncated XML: the document ends inside an entity"},
      {"<a><!-- x", "truncated XML: the document ends inside a comment"},
      {"<a><![CDATA[x", "truncated XML: the document ends inside a CDATA section"},
      {"<a></b>", "malformed XML: </b> closes <a> at byte 6"},
      {"<a>&nbsp;</a>", "malformed XML: an unknown entity '&nbsp;' at byte 4"},
      {"<a>&#0;</a>", "malformed XML: a character reference to no character at byte 4"},
      {"<a>&#xZZ;</a>", "malformed XML: a bad character reference at byte 4"},
      {"<a>& b</a>", "malformed XML: an '&' that starts no entity at byte 4"},
      {"<a></a><b/>", "malformed XML: text after the root element at byte 7"},
      {"<a></a>junk", "malformed XML: text after the root element at byte 7"},
      {"text", "malformed XML: expected an element at byte 0"},
      {"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
       "malformed XML: a DOCTYPE or declaration is not accepted at byte 0"},
      {"<a b></a>", "malformed XML: an attribute without a value at byte 4"},
      {"<a b=c></a>", "malformed XML: an unquoted attribute value at byte 5"},
      {"<>", "malformed XML: expected a name at byte 1"},
  };
  for (const Case& c : cases) {
    INFO(c.document);
    const auto parsed = aws::ParseXml(c.document);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message == c.message);
    CHECK(parsed.error().kind == core::ErrorKind::kUpstream);
  }
  std::string deep;
  for (int i = 0; i < 65; ++i) deep += "<a>";
  for (int i = 0; i < 65; ++i) deep += "</a>";
  CHECK_FALSE(aws::ParseXml(deep));
  CHECK(aws::XmlEscape("a&<>\"'b") == "a&amp;&lt;&gt;&quot;&apos;b");
}

TEST_CASE("S3 errors: messages and retry decisions", "[aws]") {
  const std::string no_such_key =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><Key>k</Key><RequestId>4442587FB7D0A2F9</RequestId>"
      "</Error>";
  const core::Error error = aws::S3Failure("GetObject", "s3://b/k", 404, no_such_key);
  CHECK(error.message ==
        "S3 GetObject s3://b/k: 404 NoSuchKey: The specified key does not exist. (request id "
        "4442587FB7D0A2F9)");
  CHECK(error.kind == core::ErrorKind::kNotFound);
  CHECK_FALSE(error.retryable);

  struct Case {
    int status;
    std::string code;
    bool retryable;
  };
  for (const Case& c : std::vector<Case>{{403, "AccessDenied", false},
                                         {404, "NoSuchBucket", false},
                                         {403, "InvalidAccessKeyId", false},
                                         {403, "SignatureDoesNotMatch", false},
                                         {503, "SlowDown", true},
                                         {400, "RequestTimeout", true},
                                         {500, "InternalError", true},
                                         {200, "InternalError", true},
                                         {502, "", true},
                                         {400, "InvalidArgument", false}}) {
    INFO(c.status << " " << c.code);
    const std::string body =
        "<Error><Code>" + c.code + "</Code><Message>m &amp; n</Message></Error>";
    const core::Error e = aws::S3Failure("PutObject", "s3://b/k", c.status, body, "HDRID");
    CHECK(e.retryable == c.retryable);
    CHECK(aws::IsRetryableS3Error(c.status, c.code) == c.retryable);
    CHECK(e.message == "S3 PutObject s3://b/k: " + std::to_string(c.status) +
                           (c.code.empty() ? "" : " " + c.code) + ": m & n (request id HDRID)");
  }

  CHECK(aws::S3Failure("HeadObject", "s3://b/k", 404, "", "RID").message ==
        "S3 HeadObject s3://b/k: 404 (no error document) (request id RID)");
  CHECK(aws::S3Failure("GetObject", "s3://b/k", 502, "<html>\x01 Bad gateway</html>").message ==
        "S3 GetObject s3://b/k: 502 (not an S3 error document: '<html>? Bad gateway</html>')");
  CHECK(aws::S3Failure("GetObject", "s3://b/k", 500, std::string(300, 'x')).message.size() < 250);
  CHECK_FALSE(aws::ParseS3Error("<Other/>"));
  CHECK_FALSE(aws::ParseS3Error("<Error><Code>"));
}

TEST_CASE("S3 ListObjectsV2 pages", "[aws]") {
  const auto page = aws::ParseListObjectsPage(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
      "<Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/"
      "wm36Hy4vbOwM=</NextContinuationToken>"
      "<Contents><Key>p/a &amp; b.txt</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>"
      "<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>"
      "<StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key>p/c</Key><Size>0</Size><ETag>\"x-2\"</ETag></Contents>"
      "</ListBucketResult>");
  REQUIRE(page);
  CHECK(page->truncated);
  CHECK(page->next_continuation_token == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
  REQUIRE(page->objects.size() == 2);
  CHECK(page->objects[0].key == "p/a & b.txt");
  CHECK(page->objects[0].size == 434234);
  CHECK(page->objects[0].etag == "fba9dede5f27731c9771645a39863328");
  REQUIRE(page->objects[0].last_modified);
  CHECK(core::FormatRfc3339(*page->objects[0].last_modified) == "2009-10-12T17:50:30.000000Z");
  CHECK(page->objects[1].etag == "x-2");
  CHECK_FALSE(page->objects[1].last_modified);

  struct Bad {
    std::string body;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
            "S3 ListObjectsV2 answer: the page is truncated but has no <NextContinuationToken>"},
           {"<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
            "S3 ListObjectsV2 answer: a <Contents> without <Key>"},
           {"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            "S3 ListObjectsV2 answer: <Size> of 'k' is not a number"},
           {"<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>",
            "S3 ListObjectsV2 answer: <IsTruncated> is neither true nor false"},
           {"<Error><Code>X</Code></Error>",
            "S3 ListObjectsV2 answer: expected <ListBucketResult>, got <Error>"},
           {"<ListBucketResult><Contents><Key>k</Key>",
            "S3 ListObjectsV2 answer: truncated XML: the document ends inside <Contents>"},
       }) {
    INFO(bad.body);
    const auto parsed = aws::ParseListObjectsPage(bad.body);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message == bad.message);
  }
  const auto last = aws::ParseListObjectsPage(
      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  REQUIRE(last);
  CHECK_FALSE(last->truncated);
  CHECK(last->objects.empty());
}

TEST_CASE("S3 multipart documents", "[aws]") {
  CHECK(*aws::ParseUploadId(
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2FkIElE"
            "</UploadId></InitiateMultipartUploadResult>") == "VXBsb2FkIElE");
  CHECK_FALSE(aws::ParseUploadId("<InitiateMultipartUploadResult/>"));
  CHECK(aws::CompleteMultipartUploadBody({{1, "\"a\""}, {2, "\"b\""}}) ==
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"
        "</CompleteMultipartUpload>");
  CHECK(*aws::ParseCompleteMultipartUpload(
            "CompleteMultipartUpload", "s3://b/k",
            "<CompleteMultipartUploadResult><ETag>\"3858f62230ac3c915f300c664312c11f-9\"</ETag>"
            "</CompleteMultipartUploadResult>") == "3858f62230ac3c915f300c664312c11f-9");
  // 200 OK with an error inside, as S3 documents for this call.
  const auto failed = aws::ParseCompleteMultipartUpload(
      "CompleteMultipartUpload", "s3://b/k",
      "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message>"
      "</Error>");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().message ==
        "S3 CompleteMultipartUpload s3://b/k: 200 InternalError: We encountered an internal "
        "error.");
  CHECK(failed.error().retryable);
  CHECK(aws::UnquoteEtag("W/\"abc\"") == "abc");
  CHECK(aws::UnquoteEtag("abc") == "abc");
}

TEST_CASE("S3: HTTP dates", "[aws]") {
  const auto t = aws::ParseHttpDate("Wed, 21 Oct 2015 07:28:00 GMT");
  REQUIRE(t);
  CHECK(core::FormatRfc3339(*t) == "2015-10-21T07:28:00.000000Z");
  CHECK_FALSE(aws::ParseHttpDate("Wed, 21 Oct 2015 07:28:00 UTC"));
  CHECK_FALSE(aws::ParseHttpDate("Wed, 32 Oct 2015 07:28:00 GMT"));
  CHECK_FALSE(aws::ParseHttpDate("Wed, 21 Foo 2015 07:28:00 GMT"));
  CHECK_FALSE(aws::ParseHttpDate("2015-10-21T07:28:00Z"));
}

TEST_CASE("S3: s3:// URLs", "[aws]") {
  auto location = aws::ParseS3Url("s3://bucket/some/prefix/");
  REQUIRE(location);
  CHECK(location->bucket == "bucket");
  CHECK(location->key == "some/prefix/");
  CHECK(location->ToString() == "s3://bucket/some/prefix/");
  CHECK(aws::ParseS3Url("s3://my.bucket-1")->key == "");
  CHECK(aws::ParseS3Url("s3://my.bucket-1/")->key == "");

  struct Bad {
    std::string url;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"https://bucket/key",
            "expected an s3:// URL like s3://bucket/prefix/, got 'https://bucket/key'"},
           {"bucket/key", "expected an s3:// URL like s3://bucket/prefix/, got 'bucket/key'"},
           {"s3:///key", "S3 URL 's3:///key' has no bucket"},
           {"s3://Bucket/key",
            "S3 URL 's3://Bucket/key': 'Bucket' is not a bucket name (3-63 characters of a-z, "
            "0-9, '.' and '-', starting and ending with a letter or digit)"},
       }) {
    INFO(bad.url);
    const auto parsed = aws::ParseS3Url(bad.url);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message == bad.message);
    CHECK(parsed.error().kind == core::ErrorKind::kInvalidArgument);
  }
  for (const std::string& name :
       std::vector<std::string>{"s3://ab", "s3://-ab", "s3://ab-", "s3://a..b", "s3://a_b",
                                "s3://" + std::string(64, 'a')}) {
    INFO(name);
    CHECK_FALSE(aws::ParseS3Url(name));
  }
}

TEST_CASE("S3: object URLs are path-style with encoded key segments", "[aws]") {
  http::Client http;
  aws::S3Options options;
  options.region = "us-east-2";
  aws::S3Client s3(http, options);
  CHECK(s3.ObjectUrl("bucket", "a/b c/ü+x") ==
        "https://s3.us-east-2.amazonaws.com/bucket/a/b%20c/%C3%BC%2Bx");
  CHECK(s3.ObjectUrl("bucket", "") == "https://s3.us-east-2.amazonaws.com/bucket");
  CHECK(s3.ObjectUrl("bucket", "k", "uploads") ==
        "https://s3.us-east-2.amazonaws.com/bucket/k?uploads");
  // Not normalised: "a//b/../c" is a key.
  CHECK(s3.ObjectUrl("bucket", "a//b/../c") ==
        "https://s3.us-east-2.amazonaws.com/bucket/a//b/../c");
  CHECK(aws::S3ObjectUrl("http://127.0.0.1:4568/", "b", "/k") == "http://127.0.0.1:4568/b//k");
  options.endpoint = "http://127.0.0.1:4568/";
  aws::S3Client local(http, options);
  CHECK(local.ObjectUrl("b", "/k") == "http://127.0.0.1:4568/b//k");
}
