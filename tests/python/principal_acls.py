"""Gives one principal WRITE, READ and DESCRIBE on one topic (and READ on every group) with
confluent-kafka's AdminClient, and creates that topic and a topic `forbidden`.

Arguments: bootstrap (a listener where the caller is a super user), principal, topic."""
import sys

from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                   NewTopic, ResourcePatternType, ResourceType)

bootstrap, principal, topic = sys.argv[1:4]
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(t, 1, 1) for t in [topic, "forbidden"]]).values():
    future.result()
LIT, ALLOW = ResourcePatternType.LITERAL, AclPermissionType.ALLOW
bindings = [AclBinding(ResourceType.TOPIC, topic, LIT, principal, "*", op, ALLOW)
            for op in (AclOperation.WRITE, AclOperation.READ, AclOperation.DESCRIBE)]
bindings.append(AclBinding(ResourceType.GROUP, "*", LIT, principal, "*", AclOperation.READ, ALLOW))
for future in admin.create_acls(bindings).values():
    future.result()
print(f"acls for {principal} created")
