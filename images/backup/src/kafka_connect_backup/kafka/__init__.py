"""Talking to Kafka and the records' formats: the one client configuration (client.py), the
one Admin client (admin.py, used by the supervisor, restore and drills), the one producer
(producer.py, restore's and the drills' sends), the command-line tools' config, Java's
partitioner, the principal's ACLs, a topic's metadata file, the record envelope of a sink file
and a record's time (timefilter.py)."""
