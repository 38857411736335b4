// Signs one request with aws::SignRequest and prints the result, for
// sigv4_botocore_check.py to compare with botocore's signer.
//
// Input (stdin), one field per line, tab-separated, values raw:
//   service s3 | region us-east-1 | time 20150830T123600Z
//   akid ... | secret ... | token ...
//   method PUT | endpoint https://host[:port] | path /raw/path (sent as is)
//   bucket b | key k      (instead of path: the URL S3Client builds)
//   param name value      (query parameters, percent-encoded here)
//   header Name value | body-hex 68656c6c6f | payload-hash UNSIGNED-PAYLOAD
// Output: "url\t<url>" and then "header\t<name>\t<value>" for every header.
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "aws/s3.h"
#include "aws/sigv4.h"
#include "crypto/hex.h"
#include "http/client.h"
#include "http/url.h"

int main() {
  std::string service, region, time, method = "GET", endpoint, path, bucket, key, payload_hash;
  bool s3_object = false;
  aws::Credentials credentials;
  std::vector<std::pair<std::string, std::string>> params;
  http::ClientRequest request;
  std::string line;
  while (std::getline(std::cin, line)) {
    const std::size_t tab = line.find('\t');
    const std::string field = line.substr(0, tab);
    const std::string value = tab == std::string::npos ? "" : line.substr(tab + 1);
    if (field == "service")
      service = value;
    else if (field == "region")
      region = value;
    else if (field == "time")
      time = value;
    else if (field == "akid")
      credentials.access_key_id = value;
    else if (field == "secret")
      credentials.secret_access_key = value;
    else if (field == "token")
      credentials.session_token = value;
    else if (field == "method")
      method = value;
    else if (field == "endpoint")
      endpoint = value;
    else if (field == "path")
      path = value;
    else if (field == "bucket")
      bucket = value, s3_object = true;
    else if (field == "key")
      key = value;
    else if (field == "payload-hash")
      payload_hash = value;
    else if (field == "body-hex")
      request.body = crypto::FromHex(value).value_or("");
    else if (field == "param" || field == "header") {
      const std::size_t second = value.find('\t');
      std::pair<std::string, std::string> pair{
          value.substr(0, second), second == std::string::npos ? "" : value.substr(second + 1)};
      if (field == "param") {
        params.push_back(std::move(pair));
      } else {
        request.headers.push_back({pair.first, pair.second});
      }
    } else if (!field.empty()) {
      std::cerr << "unknown field " << field << "\n";
      return 2;
    }
  }
  std::string query;
  for (const auto& [name, value] : params) {
    query +=
        (query.empty() ? "" : "&") + http::PercentEncode(name) + "=" + http::PercentEncode(value);
  }
  if (s3_object) {
    request.url = aws::S3ObjectUrl(endpoint, bucket, key, query);
  } else {
    request.url = endpoint + path + (query.empty() ? "" : "?" + query);
  }
  request.method = method;
  const auto at = aws::ParseAmzDate(time);
  if (!at) {
    std::cerr << "bad time " << time << "\n";
    return 2;
  }
  aws::SignRequest(request, credentials, aws::SigningScope{region, service}, *at, payload_hash);
  std::cout << "url\t" << request.url << "\n";
  for (const http::Header& h : request.headers) {
    std::cout << "header\t" << h.name << "\t" << h.value << "\n";
  }
  return 0;
}
