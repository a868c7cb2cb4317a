-- Whether the report classifier is sure an article is analysis (an overview, explainer or opinion piece about the
-- topic that reports no single incident, pipeline.relevance): such an article is relevant but joins no incident.
-- false (the default) for every article judged before this column existed: they were free to join, as then.
ALTER TABLE judgements ADD COLUMN analysis BOOLEAN DEFAULT false;
