# Compliance rules, check results and reports arrive with the compliance issue.
