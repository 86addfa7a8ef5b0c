"""The local stack: real Kafka and Neo4j from Maven Central jars (`goodsflow stack ...`)."""

from stack.errors import PortInUse, StackError, ToolMissing
from stack.launcher import LocalStack, ServiceStatus, StackConfig

__all__ = ["LocalStack", "PortInUse", "ServiceStatus", "StackConfig", "StackError", "ToolMissing"]
