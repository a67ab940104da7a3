"""Inter-agency procedure chains (*một cửa liên thông*): one filing, several agencies, one deadline.

``definitions`` reads chains as data (TOML files a province can change), ``deadlines`` works out
each step's and the chain's due date on a working-day calendar, ``intake`` takes a chain dossier
in once, ``worker`` delivers its steps to the agency systems one after the other through the
durable step queue of ``queue``, and ``views`` says where each chain stands.
"""
