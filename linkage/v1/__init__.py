"""Generated protobuf and gRPC code for the linkage.v1 API.

Written by scripts/gen_protos.py from protos/linkage/v1/*.proto. Do not edit.
"""
