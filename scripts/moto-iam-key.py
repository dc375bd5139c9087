#!/usr/bin/env python3
"""Create an IAM user with an access key in a local moto server and print the key.

Run it with the venv's python (scripts/setup-test-env makes it):

    .venv/bin/python scripts/moto-iam-key.py --endpoint http://127.0.0.1:PORT

Prints `ACCESS_KEY_ID SECRET_ACCESS_KEY` on one line of stdout. The user gets an inline policy
allowing ses:* and sts:AssumeRole (for profiles that assume a role), because once auth is enabled (POST /moto-api/reset-auth with body 0) moto checks
the signer's IAM policies for every action and answers AccessDenied without one. Run it before
enabling auth: the IAM calls here are signed with dummy credentials.
"""

import argparse
import json
import os
import sys

# Nothing from the caller's AWS setup may leak in: no profile, no config file, no real keys.
for _name in [n for n in os.environ if n.startswith("AWS_")]:
    del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = os.devnull
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull

import boto3  # noqa: E402  (imported after the environment is cleaned)

POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["ses:*", "sts:AssumeRole"], "Resource": "*"}
    ],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="moto's URL, http://127.0.0.1:PORT")
    parser.add_argument("--user", default="ses-dkim-test", help="IAM user name")
    args = parser.parse_args()

    iam = boto3.client(
        "iam",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    try:
        iam.create_user(UserName=args.user)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    iam.put_user_policy(
        UserName=args.user,
        PolicyName="allow-ses",
        PolicyDocument=json.dumps(POLICY),
    )
    key = iam.create_access_key(UserName=args.user)["AccessKey"]
    print(key["AccessKeyId"], key["SecretAccessKey"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
