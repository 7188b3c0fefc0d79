-- A database for the LangGraph server's registry beside Engram's own (created by POSTGRES_DB).
CREATE DATABASE langgraph OWNER engram;
\connect engram
CREATE EXTENSION IF NOT EXISTS vector;
